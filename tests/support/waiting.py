"""Waiting for a condition instead of for a duration."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


async def wait_until(
    condition: Callable[[], Awaitable[bool]],
    *,
    timeout: float,
    what: str = "the condition",
    every: float = 0.05,
) -> None:
    """Return as soon as ``condition()`` holds; fail, naming ``what``, if it has not within
    ``timeout`` seconds (a bound on waiting, not a timing assertion)."""
    deadline = asyncio.timeout(timeout)
    try:
        async with deadline:
            while not await condition():
                await asyncio.sleep(every)
    except TimeoutError:
        if not deadline.expired():
            raise  # the condition's own error, not the deadline
        raise AssertionError(f"{what}: not reached within {timeout} s") from None
