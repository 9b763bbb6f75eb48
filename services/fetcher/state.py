"""The fetcher's memory in Redis: list pages with their ETags, the contracts already
published, bids already published, and enrichment failures. All keys start with the
deployment's name prefix.

Losing Redis costs requests, never truth: pages are fetched again without ``If-None-Match``
and the known contracts are rebuilt from the stream.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

import orjson
import redis.asyncio as aioredis

PAGE_TTL_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True)
class CachedPage:
    etag: str
    last_modified: datetime
    pages: int
    body: bytes


@dataclass(frozen=True)
class Listing:
    """A region's newest consistent sweep, as the fetcher published it."""

    generation: datetime
    swept_at: datetime
    contract_ids: list[int]


class FetcherState:
    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self._redis = client
        self._prefix = prefix

    def _key(self, *parts: object) -> str:
        return ":".join((self._prefix, *(str(p) for p in parts)))

    async def cached_page(self, region_id: int, page: int) -> CachedPage | None:
        raw = cast(
            "dict[bytes, bytes]", await self._redis.hgetall(self._key("page", region_id, page))
        )
        if not raw or b"body" not in raw:
            return None
        return CachedPage(
            etag=raw[b"etag"].decode(),
            last_modified=datetime.fromisoformat(raw[b"last_modified"].decode()),
            pages=int(raw.get(b"pages", b"1")),
            body=raw[b"body"],
        )

    async def store_page(self, region_id: int, page: int, cached: CachedPage) -> None:
        key = self._key("page", region_id, page)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                key,
                mapping={
                    "etag": cached.etag,
                    "last_modified": cached.last_modified.isoformat(),
                    "pages": cached.pages,
                    "body": cached.body,
                },
            )
            pipe.expire(key, PAGE_TTL_SECONDS)
            await pipe.execute()

    async def forget_pages_after(self, region_id: int, last_page: int) -> None:
        """Pages beyond the region's current ``X-Pages`` no longer exist."""
        stale = [
            key
            async for key in self._redis.scan_iter(
                match=self._key("page", region_id, "*"), count=500
            )
            if int(key.rsplit(b":", 1)[-1]) > last_page
        ]
        if stale:
            await self._redis.delete(*stale)

    async def listing(self, region_id: int) -> Listing | None:
        raw = cast("dict[bytes, bytes]", await self._redis.hgetall(self._key("listing", region_id)))
        if b"ids" not in raw:
            return None
        return Listing(
            generation=datetime.fromisoformat(raw[b"generation"].decode()),
            swept_at=datetime.fromisoformat(raw[b"swept_at"].decode()),
            contract_ids=orjson.loads(raw[b"ids"]),
        )

    async def store_listing(self, region_id: int, listing: Listing) -> None:
        await self._redis.hset(
            self._key("listing", region_id),
            mapping={
                "generation": listing.generation.isoformat(),
                "swept_at": listing.swept_at.isoformat(),
                "ids": orjson.dumps(listing.contract_ids),
            },
        )

    async def unknown_contracts(self, contract_ids: Sequence[int]) -> list[int]:
        if not contract_ids:
            return []
        flags = await self._redis.smismember(self._key("known"), [str(c) for c in contract_ids])
        return [c for c, known in zip(contract_ids, flags, strict=True) if not known]

    async def mark_known(self, contract_ids: Iterable[int]) -> None:
        ids = [str(c) for c in contract_ids]
        for start in range(0, len(ids), 10_000):
            await self._redis.sadd(self._key("known"), *ids[start : start + 10_000])

    async def known_is_complete(self) -> bool:
        return bool(await self._redis.exists(self._key("known_complete")))

    async def mark_known_complete(self, stream_sequence: int) -> None:
        await self._redis.set(self._key("known_complete"), stream_sequence)

    async def record_failure(self, contract_id: int) -> int:
        key = self._key("failures")
        count: int = await self._redis.hincrby(key, str(contract_id), 1)
        return count

    async def clear_failures(self, contract_ids: Iterable[int]) -> None:
        ids = [str(c) for c in contract_ids]
        if ids:
            await self._redis.hdel(self._key("failures"), *ids)

    async def poisoned(self, contract_ids: Sequence[int]) -> set[int]:
        if not contract_ids:
            return set()
        flags = await self._redis.smismember(self._key("poisoned"), [str(c) for c in contract_ids])
        return {c for c, flag in zip(contract_ids, flags, strict=True) if flag}

    async def mark_poisoned(self, contract_id: int, reason: str) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.sadd(self._key("poisoned"), str(contract_id))
            pipe.hset(self._key("poison_reasons"), str(contract_id), reason)
            await pipe.execute()

    async def poison_reasons(self) -> dict[int, str]:
        """Every contract given up, with why."""
        raw = await self._redis.hgetall(self._key("poison_reasons"))
        return {int(k): v.decode() if isinstance(v, bytes) else v for k, v in raw.items()}

    async def published_bids(self, contract_ids: Sequence[int]) -> dict[int, set[int]]:
        if not contract_ids:
            return {}
        raw = await self._redis.hmget(self._key("bids"), [str(c) for c in contract_ids])
        return {
            c: set(orjson.loads(value)) if value else set()
            for c, value in zip(contract_ids, raw, strict=True)
        }

    async def store_published_bids(self, bids: dict[int, set[int]]) -> None:
        if bids:
            await self._redis.hset(
                self._key("bids"),
                mapping={str(c): orjson.dumps(sorted(b)) for c, b in bids.items()},
            )

    async def bids_due(self, contract_ids: Sequence[int]) -> list[int]:
        """The auctions whose bids' cache has expired."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for contract_id in contract_ids:
                pipe.exists(self._key("bids_fresh", contract_id))
            fresh = await pipe.execute()
        return [c for c, is_fresh in zip(contract_ids, fresh, strict=True) if not is_fresh]

    async def bids_fresh_for(self, contract_id: int, seconds: float) -> None:
        await self._redis.set(self._key("bids_fresh", contract_id), 1, ex=max(1, int(seconds)))
