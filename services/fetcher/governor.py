"""The one governor in front of ESI for this process.

It admits requests by priority (discovery before enrichment) up to a concurrency limit, and
pauses everything when ESI says so: the error budget nearly spent (``X-ESI-Error-Limit-*``),
a 420, a 429 with ``Retry-After``, or an exhausted ``X-Ratelimit-*`` token bucket.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from enum import IntEnum

from services.fetcher import metrics

log = logging.getLogger(__name__)


class Priority(IntEnum):
    DISCOVERY = 0
    ENRICHMENT = 1


def _number(headers: Mapping[str, str], name: str) -> float | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        return float(value.strip())
    except ValueError:
        return None


class Governor:
    def __init__(self, max_in_flight: int, error_limit_floor: int) -> None:
        self._pause_changed = asyncio.Event()
        self._free = max_in_flight
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._floor = error_limit_floor
        self._paused_until = 0.0
        self.error_limit_remain: float | None = None

    @property
    def waiting(self) -> int:
        """Requests queued for a slot."""
        return sum(1 for _, _, future in self._waiting if not future.done())

    @asynccontextmanager
    async def slot(self, priority: Priority) -> AsyncIterator[None]:
        await self._acquire(priority)
        try:
            await self._wait_for_pause()
            yield
        finally:
            self._release()

    async def _acquire(self, priority: Priority) -> None:
        if self._free > 0 and not self._waiting:
            self._free -= 1
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (int(priority), next(self._order), future))
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self._release()
            raise

    def _release(self) -> None:
        while self._waiting:
            _, _, future = heapq.heappop(self._waiting)
            if not future.done():
                future.set_result(None)
                return
        self._free += 1

    async def _wait_for_pause(self) -> None:
        """Wait out the pause; a pause extended meanwhile is waited out as well."""
        while (delay := self._paused_until - time.monotonic()) > 0:
            self._pause_changed.clear()
            # asyncio.timeout, not asyncio.wait_for: on Python 3.11 wait_for loses a
            # cancellation that arrives as the pause changes (CPython gh-86296)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._pause_changed.wait()

    def pause(self, seconds: float, reason: str) -> None:
        until = time.monotonic() + max(0.0, seconds)
        if until > self._paused_until:
            self._paused_until = until
            self._pause_changed.set()
            metrics.GOVERNOR_PAUSES.labels(reason).inc()
            log.warning(
                "ESI requests paused", extra={"seconds": round(seconds, 1), "reason": reason}
            )

    def observe(self, status: int, headers: Mapping[str, str]) -> None:
        """Learn ESI's limits from a response's headers."""
        remain = _number(headers, "x-esi-error-limit-remain")
        reset = _number(headers, "x-esi-error-limit-reset")
        if remain is not None:
            self.error_limit_remain = remain
            metrics.ERROR_LIMIT_REMAIN.set(remain)
            if remain <= self._floor:
                self.pause((reset or 60) + 1, "error_limit")
        if status == 420:
            self.pause((reset or 60) + 1, "error_limited_420")
        if status == 429:
            self.pause(_number(headers, "retry-after") or 60, "rate_limited_429")
        bucket_left = _number(headers, "x-ratelimit-remaining")
        if bucket_left is not None and bucket_left <= 2:
            self.pause(_number(headers, "retry-after") or 15, "token_bucket")
