"""A region's loop ends when it is cancelled, even if the cancellation was lost in its cycle."""

from __future__ import annotations

import asyncio
import contextlib
from typing import cast

from nats.aio.client import Client

from services.fetcher.cycle import CycleReport, RegionCycle
from services.fetcher.esi_client import EsiClient
from services.fetcher.health import SweepDeadlines
from services.fetcher.main import FetcherResources, follow_region
from services.fetcher.settings import FetcherSettings
from services.fetcher.state import FetcherState
from tests.support.waiting import wait_until

REGION = 10000043


class KnownState:
    async def known_is_complete(self) -> bool:
        return True


class CycleLosingItsCancellation:
    """A cycle that swallows the cancellation it receives, as Python 3.11's
    ``asyncio.wait_for`` does when the awaited operation has just completed (redis-py sends
    every command through it): it returns as if nothing had happened."""

    def __init__(self) -> None:
        self.runs = 0
        self.running = asyncio.Event()

    async def run(self, region_id: int) -> CycleReport:
        self.runs += 1
        if self.runs == 1:
            self.running.set()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.Event().wait()
        return CycleReport(region_id, degraded=True)


async def test_a_cancellation_lost_in_a_cycle_still_ends_the_loop() -> None:
    cycle = CycleLosingItsCancellation()
    settings = FetcherSettings(backoff_base_seconds=0.01, backoff_max_seconds=0.01)
    resources = FetcherResources(
        settings,
        cast(EsiClient, None),
        cast(FetcherState, KnownState()),
        cast(Client, None),
        cast(RegionCycle, cycle),
        SweepDeadlines(60),
    )
    loop = asyncio.create_task(follow_region(resources, REGION))
    await cycle.running.wait()
    loop.cancel()

    async def ended_or_cycled_again() -> bool:
        return loop.done() or cycle.runs > 1

    try:
        await wait_until(ended_or_cycled_again, timeout=10)
        assert loop.cancelled()
        assert cycle.runs == 1
    finally:
        while not loop.done():  # the old loop runs on: it has to be cancelled again
            loop.cancel()
            await asyncio.wait({loop}, timeout=1)
