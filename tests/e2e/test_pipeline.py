"""The whole pipeline as separate OS processes on real servers:
ESI simulator → ``hangar-bay fetcher --once`` → JetStream → ``hangar-bay persister --until-idle``
→ PostgreSQL → the API, which must return exactly the simulator's contracts with exactly
their items — after the first cycle and again after churn.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from common.settings import HangarSettings
from services.api.app import create_app
from services.api.settings import ApiSettings
from tests.support.pipeline import pipeline_environment, run_once, simulator

pytestmark = pytest.mark.e2e

REGIONS = {10000002: 2000, 10000043: 800, 10000032: 500}
SIMULATOR_OPTIONS = (
    "--regions", ",".join(f"{region}:{count}" for region, count in REGIONS.items()),
    "--no-auto-advance", "--big-contracts", "1", "--seed", "11",
)  # fmt: skip


@pytest.fixture
def esi_url() -> Iterator[str]:
    with simulator(*SIMULATOR_OPTIONS) as url:
        yield url


def _truth(esi_url: str) -> dict[int, dict[int, set[int]]]:
    truth = httpx.get(f"{esi_url}/_sim/truth", timeout=30).json()
    return {
        int(region): {int(cid): set(c["items"]) for cid, c in contracts.items()}
        for region, contracts in truth["regions"].items()
    }


#: Detail requests in flight at once: within the API's connection pool (10 + 10 overflow).
DETAIL_CONCURRENCY = 8


async def _record_ids(
    api: httpx.AsyncClient, contract_id: int, slots: asyncio.Semaphore
) -> set[int]:
    async with slots:
        detail = (await api.get(f"/v1/contracts/{contract_id}")).raise_for_status().json()
    return {item["record_id"] for item in detail["items"]}


async def _api_view(api: httpx.AsyncClient, status: str) -> dict[int, dict[int, set[int]]]:
    """region → contract → record ids, read only through the public API."""
    view: dict[int, dict[int, set[int]]] = {}
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"status": status, "limit": 500, "order": "asc"}
        if cursor:
            params["cursor"] = cursor
        page = (await api.get("/v1/contracts", params=params)).raise_for_status().json()
        summaries = page["items"]
        slots = asyncio.Semaphore(DETAIL_CONCURRENCY)
        items = await asyncio.gather(
            *(_record_ids(api, s["contract_id"], slots) for s in summaries)
        )
        for summary, record_ids in zip(summaries, items, strict=True):
            region = view.setdefault(summary["region_id"], {})
            assert summary["contract_id"] not in region, "contract listed twice"
            region[summary["contract_id"]] = record_ids
        cursor = page.get("next_cursor")
        if not cursor:
            return view


# Two fetcher cycles with every item page of 3,300 contracts, type and name lookups, and every
# contract read back through the API: minutes, not the default two.
@pytest.mark.timeout(900)
async def test_pipeline_matches_the_simulator_across_churn(
    settings: HangarSettings, esi_url: str
) -> None:
    env = pipeline_environment(settings, esi_url, REGIONS)
    await run_once("fetcher", "--once", env=env)
    await run_once("persister", "--until-idle", env=env)
    first = _truth(esi_url)
    assert sum(len(c) for c in first.values()) == 3300
    assert max(len(items) for region in first.values() for items in region.values()) > 1000

    app = create_app(ApiSettings(database_url=settings.database_url))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://api.test"
        ) as api,
    ):
        assert await _api_view(api, "outstanding") == first

        httpx.post(f"{esi_url}/_sim/advance", timeout=30).raise_for_status()
        await run_once("fetcher", "--once", env=env)
        await run_once("persister", "--until-idle", env=env)
        second = _truth(esi_url)
        assert await _api_view(api, "outstanding") == second

        listed_now = {cid for region in second.values() for cid in region}
        delisted = {cid for region in first.values() for cid in region} - listed_now
        assert delisted
        gone = await _api_view(api, "gone")
        assert {cid for region in gone.values() for cid in region} == delisted
