"""The page cache's bound in bytes and its eviction order."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from services.api.page_cache import PageCache


async def test_the_page_cache_stays_within_its_bytes_evicting_the_least_recently_used() -> None:
    cache = PageCache(ttl_s=60, max_bytes=400)
    computed: list[str] = []

    def body_of(key: str, size: int) -> Callable[[], Awaitable[bytes]]:
        async def compute() -> bytes:
            computed.append(key)
            return key.encode().ljust(size, b".")

        return compute

    for key in ("a", "b", "c"):
        await cache.get_or_compute(key, body_of(key, 100))
    await cache.get_or_compute("a", body_of("a", 100))  # "a" is now the most recent
    await cache.get_or_compute("d", body_of("d", 100))
    await cache.get_or_compute("e", body_of("e", 100))  # evicts "b", the least recent
    assert cache.size_bytes == 400
    await cache.get_or_compute("a", body_of("a", 100))
    await cache.get_or_compute("b", body_of("b", 100))
    await cache.get_or_compute("huge", body_of("huge", 101))  # over a quarter: never kept
    await cache.get_or_compute("huge", body_of("huge", 101))
    assert computed == ["a", "b", "c", "d", "e", "b", "huge", "huge"]
    assert cache.size_bytes <= 400
