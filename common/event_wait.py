"""Waiting for an ``asyncio.Event`` with a time limit, without losing a cancellation.

On Python 3.11, ``asyncio.wait_for`` returns normally when a cancellation arrives just after
the awaited operation finished (CPython gh-86296, fixed in 3.12): a loop stopped by
``Task.cancel()`` could then run on. ``asyncio.timeout`` has no such gap.
"""

from __future__ import annotations

import asyncio


async def event_set_within(event: asyncio.Event, seconds: float) -> bool:
    """Whether ``event`` was set within ``seconds`` (False when the time ran out)."""
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        return False
    return True
