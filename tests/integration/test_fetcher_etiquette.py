"""The fetcher's manners towards ESI: limits, transient failures, schedules, bids, bad data."""

from __future__ import annotations

import asyncio

import httpx
import orjson
import pytest

from common.settings import HangarSettings
from services.esi_sim.faults import FaultConfig, Rate429Fault, TimeoutFault
from services.fetcher.main import fetcher_resources, follow_region, run_once
from tests.integration.test_fetcher import _published, fetcher_settings
from tests.support.sim import Sim
from tests.support.waiting import wait_until

SMALL = {10000043: 300}


async def test_429_with_retry_after_is_waited_out_and_nothing_is_lost(
    settings: HangarSettings,
) -> None:
    sim = Sim.build(SMALL)
    await sim.faults(FaultConfig(rate_429=Rate429Fault(count=3, retry_after=1)))
    async with fetcher_resources(
        fetcher_settings(settings, regions=list(SMALL)), sim.transport
    ) as fetcher:
        (report,) = await run_once(fetcher)
    assert not report.degraded
    stats = await sim.stats()
    assert stats["faults_fired"].get("rate_429") == 3
    contracts, _, _ = await _published(settings)
    assert set(contracts) == set(sim.listed()[10000043])


async def test_timeouts_are_retried(settings: HangarSettings) -> None:
    sim = Sim.build(SMALL)
    await sim.faults(FaultConfig(timeout=TimeoutFault(count=2, seconds=3.0)))
    config = fetcher_settings(settings, regions=list(SMALL), request_timeout_seconds=0.5)
    async with fetcher_resources(config, sim.transport) as fetcher:
        (report,) = await run_once(fetcher)
    assert not report.degraded
    contracts, _, _ = await _published(settings)
    assert set(contracts) == set(sim.listed()[10000043])


async def test_an_item_exchange_with_zero_items_is_an_error_not_a_success(
    settings: HangarSettings,
) -> None:
    sim = Sim.build(SMALL)
    listed = sim.listed()[10000043]
    victim = min(cid for cid, items in listed.items() if items)

    class EmptyItems(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if request.url.path.endswith(f"/items/{victim}"):
                return httpx.Response(200, content=b"[]", headers={"x-pages": "1"})
            return await sim.transport.handle_async_request(request)

    config = fetcher_settings(settings, regions=list(SMALL), poison_after=2)
    async with fetcher_resources(config, EmptyItems()) as fetcher:
        (first,) = await run_once(fetcher)
        (second,) = await run_once(fetcher)
        await sim.reset_stats()
        (third,) = await run_once(fetcher)
    assert first.failed == 1
    assert second.failed == 1
    assert third.failed == 0  # poisoned after two failures: not asked again
    assert (await sim.stats())["by_route"]["items"] == 0
    contracts, _, _ = await _published(settings)
    assert victim not in contracts
    assert len(contracts) == len(listed) - 1


async def test_bids_follow_their_cache_and_only_new_bids_are_published(
    settings: HangarSettings,
) -> None:
    sim = Sim.build({10000002: 1500}, churn_per_generation=20)
    config = fetcher_settings(settings, regions=[10000002])
    async with fetcher_resources(config, sim.transport) as fetcher:
        await run_once(fetcher)
        _, _, bids_after_first = await _published(settings)
        assert bids_after_first
        await sim.reset_stats()
        await run_once(fetcher)  # within the bids' 300 s cache
        assert (await sim.stats())["by_route"]["bids"] == 0
    published = [
        (a.contract_id, b.bid_id)
        for batch in bids_after_first
        for a in batch.auctions
        for b in a.bids
    ]
    assert len(published) == len(set(published))
    truth = sim.world.truth()["regions"]["10000002"]
    expected = {(int(cid), bid) for cid, c in truth.items() for bid in c["bids"]}
    assert set(published) == expected


@pytest.mark.timeout(150)
async def test_discovery_follows_expires_not_a_fixed_interval(settings: HangarSettings) -> None:
    sim = Sim.build(SMALL, cache_seconds=2, app_options={"auto_advance": True})
    config = fetcher_settings(
        settings, regions=list(SMALL), expiry_jitter_seconds=0.2, min_sweep_interval_seconds=1.0
    )
    async with fetcher_resources(config, sim.transport) as fetcher:
        loop = asyncio.create_task(follow_region(fetcher, 10000043))

        async def three_generations_fetched() -> bool:
            stats = await sim.stats()
            return bool(stats["requests"]["contracts"].get("200", 0) >= 3)

        # Three 2 s generations take about 10 s; the margin is for a busy machine (one run of
        # the whole suite took over 60 s).
        await wait_until(three_generations_fetched, timeout=120)
        loop.cancel()
        await asyncio.gather(loop, return_exceptions=True)
    stats = await sim.stats()
    requests = stats["requests"]["contracts"]
    generations = requests["200"]
    # each 2 s generation is fetched once; between them at most one early 304 per
    # generation (a cache that expires late is asked again after min_sweep_interval)
    assert generations >= 3, requests
    assert requests.get("304", 0) <= generations + 1, requests
    _, sweeps_published, _ = await _published(settings)
    assert len(sweeps_published) == 1  # only the newest sweep of a region is retained
    assert orjson.loads(sweeps_published[0].to_json())["region_id"] == 10000043
