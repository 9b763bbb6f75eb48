"""A region's loop ends when it is cancelled, whichever step of its cycle it is at: in a
Redis command, an ESI request, a retry's wait or the wait for its next cycle."""

from __future__ import annotations

import asyncio

from common.settings import HangarSettings
from services.esi_sim.faults import FaultConfig, Html5xxFault
from services.fetcher.main import fetcher_resources, follow_region
from tests.integration.test_fetcher import fetcher_settings
from tests.support.sim import Sim

REGION = 10000043
STEPS = 100


async def test_a_region_loop_ends_when_cancelled_at_any_step(settings: HangarSettings) -> None:
    # every cycle fails fast, so the first STEPS event-loop steps cover whole cycles; the
    # error limit is out of the way so that no pause hides them
    sim = Sim.build({REGION: 20}, app_options={"error_limit": 10**9})
    await sim.faults(FaultConfig(html_5xx=Html5xxFault(probability=1.0)))
    config = fetcher_settings(settings, regions=[REGION], max_attempts=2)
    ran_on: list[int] = []
    async with fetcher_resources(config, sim.transport) as fetcher:
        fetcher.deadlines.follow([REGION])
        for steps in range(STEPS):
            loop = asyncio.create_task(follow_region(fetcher, REGION))
            for _ in range(steps):
                await asyncio.sleep(0)
            loop.cancel()
            done, _ = await asyncio.wait({loop}, timeout=10)
            if not done:
                ran_on.append(steps)
            while not loop.done():  # cancelled again, so that it does not outlive the test
                loop.cancel()
                await asyncio.wait({loop}, timeout=1)
    assert (await sim.stats())["faults_fired"]["html_5xx"] > 0
    assert not ran_on, f"loops ran on after a cancellation {ran_on} steps in"
