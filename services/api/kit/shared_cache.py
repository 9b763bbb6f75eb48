"""A body computed at most once per lifetime by a whole deployment: kept in Redis, shared by
every API process and replica, and in each process until it expires there too.

For answers that are expensive to compute and may be minutes old (aggregates over the whole
table). A process computes it once for all the requests that want it meanwhile, in a task of
its own. Once a process has a body, nobody waits again: when it expires, the expired body is
served while one computation runs (the body says when it was computed). Redis down or slow:
the process computes and keeps the body itself (logged), never fails for it.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError

log = structlog.get_logger(__name__)


class SharedCache:
    def __init__(self, redis: aioredis.Redis, key: str, ttl_s: float) -> None:
        self._redis = redis
        self._key = key
        self._ttl_s = ttl_s
        self._pending: asyncio.Future[bytes] | None = None
        self._body: bytes | None = None
        self._expires_at = 0.0

    def _kept(self) -> bytes | None:
        return self._body if time.monotonic() < self._expires_at else None

    async def get_or_compute(self, compute: Callable[[], Awaitable[bytes]]) -> bytes:
        kept = self._kept()
        if kept is not None:
            return kept
        if self._pending is None:
            # A task of its own, shared by every request waiting meanwhile: one whose client
            # goes away does not cancel the computation the others wait for.
            self._pending = asyncio.ensure_future(self._fill(compute))
            self._pending.add_done_callback(_retrieve_exception)
        if self._body is not None:
            return self._body  # expired: served while the computation runs
        return await asyncio.shield(self._pending)

    async def _fill(self, compute: Callable[[], Awaitable[bytes]]) -> bytes:
        try:
            body, remaining_s = await self._shared()
            if body is None:
                body = await compute()
                remaining_s = self._ttl_s
                await self._share(body)
            self._body, self._expires_at = body, time.monotonic() + remaining_s
            return body
        finally:
            self._pending = None

    async def _shared(self) -> tuple[bytes | None, float]:
        """The body in Redis and how long it has left to live there."""
        try:
            async with self._redis.pipeline(transaction=False) as pipeline:
                pipeline.get(self._key)
                pipeline.pttl(self._key)
                body, remaining_ms = await pipeline.execute()
        except (RedisError, OSError) as error:
            log.warning("shared cache unavailable", key=self._key, error=repr(error))
            return None, 0.0
        if body is None or remaining_ms <= 0:
            return None, 0.0
        return bytes(body), min(remaining_ms / 1000, self._ttl_s)

    async def _share(self, body: bytes) -> None:
        try:
            await self._redis.set(self._key, body, px=math.ceil(self._ttl_s * 1000))
        except (RedisError, OSError) as error:
            log.warning("shared cache unavailable", key=self._key, error=repr(error))


def _retrieve_exception(task: asyncio.Future[bytes]) -> None:
    """Every waiter may have gone: the error was theirs to see, not the event loop's to log."""
    if not task.cancelled():
        task.exception()
