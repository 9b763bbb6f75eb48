"""The page cache: list pages kept in memory for a few seconds, one computation per key at a
time.

Traders poll the same popular queries; the API already declares every list response fresh for
``cache_max_age_s`` (any proxy may serve it that long), so answering the same query again from
memory for a few seconds changes nothing a client can rely on, and spares PostgreSQL. A key
that is being computed is not computed again by concurrent requests: they wait for the first
one (no stampede when an entry expires under load). Only successful bodies are kept; an error
reaches every request that waited for it, and the next request tries again.

The cache is bounded in bytes and evicts the least recently used entries. Each API process
(``HANGAR_API_WORKERS``) has its own.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from prometheus_client import Counter

from services.api.http_validation import entity_tag


@dataclass(frozen=True, slots=True)
class CachedPage:
    body: bytes
    etag: str
    stored_at: float

    def age(self, now: float) -> int:
        return int(now - self.stored_at)


class PageCache:
    def __init__(self, ttl_s: float, max_bytes: int, lookups: Counter | None = None) -> None:
        self._ttl_s = ttl_s
        self._max_bytes = max_bytes
        self._lookups = lookups
        self._entries: OrderedDict[str, CachedPage] = OrderedDict()
        self._bytes = 0
        self._pending: dict[str, asyncio.Future[CachedPage]] = {}

    @property
    def enabled(self) -> bool:
        return self._ttl_s > 0 and self._max_bytes > 0

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def _count(self, result: str) -> None:
        if self._lookups is not None:
            self._lookups.labels(result=result).inc()

    async def get_or_compute(self, key: str, compute: Callable[[], Awaitable[bytes]]) -> CachedPage:
        """The body kept for ``key`` if it is younger than the lifetime, else ``compute()``'s
        (shared with every concurrent request for the same key)."""
        if not self.enabled:
            body = await compute()
            return CachedPage(body, entity_tag(body), time.monotonic())
        now = time.monotonic()
        entry = self._entries.get(key)
        if entry is not None:
            if now - entry.stored_at < self._ttl_s:
                self._entries.move_to_end(key)
                self._count("hit")
                return entry
            self._remove(key)
        pending = self._pending.get(key)
        if pending is None:
            self._count("miss")
            # A task of its own: a request that is cancelled (its client went away) does not
            # cancel the computation the other requests for the key are waiting for.
            pending = asyncio.ensure_future(self._compute_and_store(key, compute))
            pending.add_done_callback(_retrieve_exception)
            self._pending[key] = pending
        else:
            self._count("shared")
        return await asyncio.shield(pending)

    async def _compute_and_store(
        self, key: str, compute: Callable[[], Awaitable[bytes]]
    ) -> CachedPage:
        try:
            body = await compute()
            entry = CachedPage(body, entity_tag(body), time.monotonic())
            self._store(key, entry)
            return entry
        finally:
            del self._pending[key]

    def _store(self, key: str, entry: CachedPage) -> None:
        if len(entry.body) > self._max_bytes // 4:
            return  # one huge page must not flush everything else
        self._entries[key] = entry
        self._bytes += len(entry.body)
        while self._bytes > self._max_bytes:
            oldest = next(iter(self._entries))
            self._remove(oldest)

    def _remove(self, key: str) -> None:
        entry = self._entries.pop(key)
        self._bytes -= len(entry.body)


def _retrieve_exception(task: asyncio.Future[CachedPage]) -> None:
    """Every waiter may have gone: the error was theirs to see, not the event loop's to log."""
    if not task.cancelled():
        task.exception()
