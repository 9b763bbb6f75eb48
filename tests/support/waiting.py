"""Waiting for a condition instead of for a duration."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


async def wait_until(
    condition: Callable[[], Awaitable[bool]], *, timeout: float, every: float = 0.05
) -> None:
    """Return as soon as ``condition()`` holds; ``TimeoutError`` if it has not within
    ``timeout`` seconds."""
    async with asyncio.timeout(timeout):
        while not await condition():
            await asyncio.sleep(every)
