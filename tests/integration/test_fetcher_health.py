"""The fetcher's /healthz follows its region loops: a region that completes no sweep within its
window makes it unhealthy, a completed sweep makes it healthy again. The deadlines run on a
clock the test moves; the loops, ESI simulator, Redis and JetStream are real."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from common.ops_server import OpsServer
from common.settings import HangarSettings
from services.esi_sim.faults import FaultConfig, Html5xxFault
from services.fetcher.health import SweepDeadlines
from services.fetcher.main import FetcherResources, fetcher_resources, follow_region
from tests.integration.test_fetcher import fetcher_settings
from tests.support.sim import Sim
from tests.support.waiting import wait_until

REGION = 10000043
GRACE = 60.0


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@asynccontextmanager
async def _following(fetcher: FetcherResources) -> AsyncIterator[asyncio.Task[None]]:
    fetcher.deadlines.follow([REGION])
    loop = asyncio.create_task(follow_region(fetcher, REGION))
    try:
        yield loop
    finally:
        loop.cancel()
        await asyncio.gather(loop, return_exceptions=True)


async def test_healthz_reports_whether_each_region_completes_its_sweeps(
    settings: HangarSettings,
) -> None:
    sim = Sim.build({REGION: 200})
    config = fetcher_settings(settings, regions=[REGION], max_attempts=2)
    clock = Clock()
    deadlines = SweepDeadlines(GRACE, clock=clock)
    ops = OpsServer("127.0.0.1", 0, healthy=deadlines.healthy)
    await ops.start()

    async def healthz() -> int:
        async with httpx.AsyncClient() as client:
            return (await client.get(f"http://127.0.0.1:{ops.port}/healthz")).status_code

    async def healthy() -> bool:
        return await healthz() == 200

    async def errors_served(at_least: int) -> bool:
        return bool((await sim.stats())["faults_fired"].get("html_5xx", 0) >= at_least)

    try:
        async with fetcher_resources(config, sim.transport, deadlines) as fetcher:
            # a region that completes its sweep: healthy again once it has
            async with _following(fetcher):
                clock.now += GRACE + 1
                assert deadlines.overdue() == [REGION]
                await wait_until(healthy, timeout=60)  # its first publish

                async def sweep_completed() -> bool:
                    # the next sweep is due after ESI's cache time (1800 s), plus the grace
                    return deadlines.due_in(REGION) > 1800

                await wait_until(sweep_completed, timeout=60)
                clock.now += 1800
                assert await healthz() == 200

            # a region whose every sweep fails: unhealthy past its window, the loop goes on
            await sim.faults(FaultConfig(html_5xx=Html5xxFault(probability=1.0)))
            async with _following(fetcher) as loop:
                assert await healthz() == 200
                clock.now += GRACE + 1
                assert await healthz() == 503
                await wait_until(lambda: errors_served(6), timeout=60)  # three failed cycles
                assert not loop.done()
                assert await healthz() == 503
    finally:
        await ops.close()
