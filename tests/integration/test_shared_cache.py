"""The shared cache on a real Redis: one computation per lifetime for concurrent requests and
for every process, an expired body served while it is computed again, and a process that
computes for itself when Redis does not answer."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from common.settings import HangarSettings
from services.api.kit.shared_cache import SharedCache


class Computation:
    def __init__(self) -> None:
        self.calls = 0
        self.release = asyncio.Event()

    async def __call__(self) -> bytes:
        self.calls += 1
        await self.release.wait()
        return f"body {self.calls}".encode()


async def test_concurrent_requests_and_other_processes_share_one_computation(
    settings: HangarSettings,
) -> None:
    key = f"{settings.name_prefix}:shared"
    redis = aioredis.from_url(settings.redis_url)
    try:
        compute = Computation()
        process = SharedCache(redis, key, ttl_s=600)
        waiting = [asyncio.create_task(process.get_or_compute(compute)) for _ in range(5)]
        await asyncio.sleep(0)
        compute.release.set()
        assert await asyncio.gather(*waiting) == [b"body 1"] * 5
        other_process = SharedCache(redis, key, ttl_s=600)
        assert await other_process.get_or_compute(compute) == b"body 1"
        assert compute.calls == 1
        assert 0 < await redis.pttl(key) <= 600_000
        await redis.delete(key)
        # kept in the process until the shared entry would have expired
        assert await process.get_or_compute(compute) == b"body 1"
        assert await SharedCache(redis, key, ttl_s=600).get_or_compute(compute) == b"body 2"
    finally:
        await redis.aclose()


async def test_an_expired_body_is_served_while_it_is_computed_again(
    settings: HangarSettings,
) -> None:
    redis = aioredis.from_url(settings.redis_url)
    try:
        compute = Computation()
        cache = SharedCache(redis, f"{settings.name_prefix}:shared", ttl_s=0.2)
        compute.release.set()
        assert await cache.get_or_compute(compute) == b"body 1"
        compute.release.clear()
        await asyncio.sleep(0.3)  # expired in the process and in Redis
        # nobody waits: the old body, while one computation runs
        assert await cache.get_or_compute(compute) == b"body 1"
        while compute.calls < 2:
            await asyncio.sleep(0.01)
        assert await cache.get_or_compute(compute) == b"body 1"  # still being computed
        assert compute.calls == 2
        compute.release.set()
        while await cache.get_or_compute(compute) == b"body 1":
            await asyncio.sleep(0.01)
        assert await cache.get_or_compute(compute) == b"body 2"
        assert compute.calls == 2
    finally:
        await redis.aclose()


async def test_a_request_that_goes_away_does_not_cancel_the_computation(
    settings: HangarSettings,
) -> None:
    redis = aioredis.from_url(settings.redis_url)
    try:
        compute = Computation()
        cache = SharedCache(redis, f"{settings.name_prefix}:shared", ttl_s=600)
        gone = asyncio.create_task(cache.get_or_compute(compute))
        staying = asyncio.create_task(cache.get_or_compute(compute))
        while compute.calls == 0:
            await asyncio.sleep(0.01)
        gone.cancel()
        compute.release.set()
        assert await staying == b"body 1"
        assert gone.cancelled()
        assert compute.calls == 1
    finally:
        await redis.aclose()


async def test_without_redis_the_process_computes_and_keeps_the_body() -> None:
    unreachable = aioredis.from_url(
        "redis://127.0.0.1:1/0", socket_timeout=1, socket_connect_timeout=1
    )
    try:
        compute = Computation()
        compute.release.set()
        cache = SharedCache(unreachable, "any", ttl_s=600)
        assert await cache.get_or_compute(compute) == b"body 1"
        assert await cache.get_or_compute(compute) == b"body 1"
        assert compute.calls == 1
    finally:
        await unreachable.aclose()
