"""The fetcher against the ESI simulator, publishing to real JetStream with state in real Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from prometheus_client import REGISTRY

from common.messages import BidsBatch, ContractsBatch, RegionSweep
from common.settings import HangarSettings
from services.esi_sim.faults import (
    FaultConfig,
    FaultRule,
    Html5xxFault,
    ItemsGoneFault,
    PageShiftFault,
)
from services.fetcher.main import FetcherResources, fetcher_resources, run_once
from services.fetcher.settings import FetcherSettings
from tests.support.sim import SIM_BASE_URL, Sim
from tests.support.stream import jetstream, stream_messages

REGIONS = {10000002: 1500, 10000043: 400}


def fetcher_settings(settings: HangarSettings, **overrides: object) -> FetcherSettings:
    values: dict[str, object] = {
        **settings.model_dump(),
        "esi_base_url": SIM_BASE_URL,
        "regions": list(REGIONS),
        "backoff_base_seconds": 0.01,
        "backoff_max_seconds": 0.05,
        **overrides,
    }
    return FetcherSettings(**values)  # type: ignore[arg-type]


@pytest.fixture
def sim() -> Sim:
    return Sim.build(REGIONS, big_contracts=1)


@pytest.fixture
async def fetcher(settings: HangarSettings, sim: Sim) -> AsyncIterator[FetcherResources]:
    async with fetcher_resources(fetcher_settings(settings), sim.transport) as resources:
        yield resources


async def _published(
    settings: HangarSettings,
) -> tuple[dict[int, ContractsBatch], list[RegionSweep], list[BidsBatch]]:
    async with jetstream(settings) as (_, js):
        messages = await stream_messages(js, settings)
    contracts: dict[int, ContractsBatch] = {}
    sweeps = [m for _, m in messages if isinstance(m, RegionSweep)]
    bids = [m for _, m in messages if isinstance(m, BidsBatch)]
    for _, message in messages:
        if isinstance(message, ContractsBatch):
            for contract in message.contracts:
                assert contract.contract_id not in contracts, "a contract was published twice"
                contracts[contract.contract_id] = message
    return contracts, sweeps, bids


def _items_by_contract(batches: dict[int, ContractsBatch]) -> dict[int, set[int]]:
    return {
        cid: {i.record_id for c in batch.contracts if c.contract_id == cid for i in c.items}
        for cid, batch in batches.items()
    }


async def test_first_cycle_publishes_every_contract_with_all_items(
    fetcher: FetcherResources, sim: Sim, settings: HangarSettings
) -> None:
    reports = await run_once(fetcher)
    assert not any(r.degraded for r in reports)
    contracts, sweeps, _ = await _published(settings)
    expected = {cid: items for region in sim.listed().values() for cid, items in region.items()}
    assert _items_by_contract(contracts) == expected
    assert max(len(items) for items in expected.values()) > 1000  # items spanning pages
    assert {s.region_id: set(s.contract_ids) for s in sweeps} == {
        region: set(listed) for region, listed in sim.listed().items()
    }


async def test_steady_state_cycle_requests_no_items_and_publishes_nothing_new(
    fetcher: FetcherResources, sim: Sim, settings: HangarSettings
) -> None:
    await run_once(fetcher)
    before, _, _ = await _published(settings)
    await sim.reset_stats()
    await run_once(fetcher)
    stats = await sim.stats()
    assert stats["by_route"]["items"] == 0
    assert stats["not_modified"] == stats["by_route"]["contracts"] > 0
    after, _, _ = await _published(settings)
    assert after.keys() == before.keys()


async def test_after_churn_only_new_contracts_are_enriched(
    fetcher: FetcherResources, sim: Sim, settings: HangarSettings
) -> None:
    await run_once(fetcher)
    before = {cid for region in sim.listed().values() for cid in region}
    sim.world.advance()
    now_listed = {cid: items for region in sim.listed().values() for cid, items in region.items()}
    new = set(now_listed) - before
    assert new
    await sim.reset_stats()
    await run_once(fetcher)
    stats = await sim.stats()
    new_with_items = [cid for cid in new if now_listed[cid]]
    assert 0 < stats["by_route"]["items"] <= len(new_with_items) + 5  # +pages of big ones
    contracts, sweeps, _ = await _published(settings)
    assert new <= contracts.keys()
    newest = {s.region_id: s for s in sweeps}
    assert set().union(*(set(s.contract_ids) for s in newest.values())) == set(now_listed)


async def test_empty_redis_does_not_refetch_known_items(
    fetcher: FetcherResources, sim: Sim, settings: HangarSettings
) -> None:
    await run_once(fetcher)
    client = aioredis.from_url(settings.redis_url)
    try:
        keys = [k async for k in client.scan_iter(match=f"{settings.name_prefix}:*")]
        await client.delete(*keys)
    finally:
        await client.aclose()
    await sim.reset_stats()
    await run_once(fetcher)
    stats = await sim.stats()
    assert stats["by_route"]["items"] == 0
    assert stats["not_modified"] == 0  # the pages were asked again without If-None-Match


async def test_mixed_generation_sweep_is_retried_and_never_published(
    settings: HangarSettings, sim: Sim
) -> None:
    await sim.faults(FaultConfig(page_shift=PageShiftFault(probability=1.0, region_ids=[10000002])))
    async with fetcher_resources(
        fetcher_settings(settings, regions=[10000002], max_resweeps=2), sim.transport
    ) as fetcher:
        (report,) = await run_once(fetcher)
    assert report.degraded
    assert len(report.problems) == 3
    _, sweeps, _ = await _published(settings)
    assert sweeps == []


async def test_gone_items_are_skipped_not_published(
    fetcher: FetcherResources, sim: Sim, settings: HangarSettings
) -> None:
    listed = sim.listed()[10000043]
    victims = sorted(cid for cid, items in listed.items() if items)[:5]
    await sim.faults(FaultConfig(items_gone=ItemsGoneFault(probability=1.0, contract_ids=victims)))
    reports = await run_once(fetcher)
    assert sum(r.gone_before_enrichment for r in reports) == len(victims)
    contracts, sweeps, _ = await _published(settings)
    assert not set(victims) & contracts.keys()
    region_sweep = next(s for s in sweeps if s.region_id == 10000043)
    assert set(victims) <= set(region_sweep.contract_ids)


async def test_error_limit_is_never_exceeded_under_injected_errors(
    settings: HangarSettings,
) -> None:
    sim = Sim.build(REGIONS, app_options={"error_window": 3.0})
    await sim.faults(FaultConfig(html_5xx=Html5xxFault(probability=0.3)))
    async with fetcher_resources(
        fetcher_settings(settings, regions=[10000043], error_limit_floor=60, max_attempts=8),
        sim.transport,
    ) as fetcher:
        await run_once(fetcher)
    stats = await sim.stats()
    assert stats["requests"]["contracts"].get("420", 0) == 0
    assert stats["requests"]["items"].get("420", 0) == 0
    assert stats["error_limit"]["remain"] > 0


async def test_malformed_json_never_reaches_the_stream(settings: HangarSettings, sim: Sim) -> None:
    await sim.faults(FaultConfig(malformed_json=FaultRule(probability=1.0)))
    async with fetcher_resources(
        fetcher_settings(settings, regions=[10000043], max_attempts=2), sim.transport
    ) as fetcher:
        (report,) = await run_once(fetcher)
    assert report.degraded
    contracts, sweeps, _ = await _published(settings)
    assert contracts == {}
    assert sweeps == []


async def test_requests_carry_user_agent_and_compatibility_date(
    settings: HangarSettings, sim: Sim
) -> None:
    seen: list[tuple[str | None, str | None]] = []

    async def spy(request: object) -> None:
        headers = getattr(request, "headers", {})
        seen.append((headers.get("user-agent"), headers.get("x-compatibility-date")))

    import httpx  # noqa: PLC0415

    class SpyTransport(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            await spy(request)
            return await sim.transport.handle_async_request(request)

    async with fetcher_resources(
        fetcher_settings(settings, regions=[10000043], contact="ops@example.org"), SpyTransport()
    ) as fetcher:
        await run_once(fetcher)
    assert seen
    assert all(
        ua is not None and ua.startswith("HangarBay/") and "ops@example.org" in ua for ua, _ in seen
    )
    assert all(date == "2025-12-16" for _, date in seen)


async def test_a_contract_larger_than_a_message_is_given_up_with_a_reason_and_the_sweep_goes_on(
    settings: HangarSettings, sim: Sim
) -> None:
    listed = sim.listed()[10000002]
    big = max(listed, key=lambda cid: len(listed[cid]))
    assert len(listed[big]) > 1000
    poisoned_before = REGISTRY.get_sample_value("hangar_fetcher_poisoned_total") or 0.0
    oversized_before = REGISTRY.get_sample_value("hangar_fetcher_oversized_contracts_total") or 0.0
    limited = fetcher_settings(settings, regions=[10000002], max_batch_bytes=64 * 1024)
    async with fetcher_resources(limited, sim.transport) as fetcher:
        (report,) = await run_once(fetcher)
        reasons = await fetcher.state.poison_reasons()
        await sim.reset_stats()
        (again,) = await run_once(fetcher)

    assert not report.degraded
    assert report.oversized == 1
    assert report.published == len(listed) - 1
    assert list(reasons) == [big]
    assert f"contract {big} with {len(listed[big])} items" in reasons[big]
    assert "limit" in reasons[big]
    assert REGISTRY.get_sample_value("hangar_fetcher_poisoned_total") == poisoned_before + 1
    assert (
        REGISTRY.get_sample_value("hangar_fetcher_oversized_contracts_total")
        == oversized_before + 1
    )
    contracts, sweeps, _ = await _published(settings)
    assert contracts.keys() == listed.keys() - {big}
    assert _items_by_contract(contracts) == {c: i for c, i in listed.items() if c != big}
    assert [set(s.contract_ids) for s in sweeps] == [set(listed)]  # the sweep still lists it
    assert (again.degraded, again.oversized, again.published) == (False, 0, 0)
    assert (await sim.stats())["by_route"]["items"] == 0  # given up: not fetched again
