"""The fetcher process: resources built and closed here; one scheduler task per region."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import nats
import redis.asyncio as aioredis
from nats.aio.client import Client

from common.esi_models import region_list
from common.ops_server import OpsServer
from common.stream import ensure_streams, stream_limits
from common.subjects import Subjects
from services.fetcher.cycle import CycleReport, RegionCycle
from services.fetcher.esi_client import EsiClient, UnexpectedEsiStatusError, build_http_client
from services.fetcher.governor import Governor, Priority
from services.fetcher.health import SweepDeadlines
from services.fetcher.known_contracts import rebuild_known_contracts
from services.fetcher.publisher import Publisher
from services.fetcher.resolver import ReferenceResolver, pinned_sde_ids
from services.fetcher.retry import RetryPolicy
from services.fetcher.settings import FetcherSettings
from services.fetcher.state import FetcherState

log = logging.getLogger(__name__)


@dataclass
class FetcherResources:
    settings: FetcherSettings
    esi: EsiClient
    state: FetcherState
    nats: Client
    cycle: RegionCycle
    deadlines: SweepDeadlines


@asynccontextmanager
async def fetcher_resources(
    settings: FetcherSettings,
    transport: httpx.AsyncBaseTransport | None = None,
    deadlines: SweepDeadlines | None = None,
) -> AsyncIterator[FetcherResources]:
    deadlines = deadlines or SweepDeadlines(settings.health_grace_seconds)
    subjects = Subjects(settings.name_prefix)
    async with contextlib.AsyncExitStack() as stack:
        http = await stack.enter_async_context(build_http_client(settings, transport))
        redis_pool = aioredis.BlockingConnectionPool.from_url(
            settings.redis_url, max_connections=32, timeout=30
        )
        stack.push_async_callback(redis_pool.aclose)
        redis_client = aioredis.Redis(connection_pool=redis_pool)
        nats_client = await nats.connect(settings.nats_url.split(","), max_reconnect_attempts=-1)
        stack.push_async_callback(nats_client.drain)
        js = nats_client.jetstream()
        await ensure_streams(js, subjects, stream_limits(settings))
        governor = Governor(settings.max_in_flight, settings.error_limit_floor)
        esi = EsiClient(http, governor, settings)
        state = FetcherState(redis_client, settings.name_prefix)
        publisher = Publisher(js, subjects, min(settings.max_batch_bytes, nats_client.max_payload))
        resolver = ReferenceResolver(
            esi, http, governor, redis_client, settings.name_prefix, publisher.reference,
            pinned_sde_ids(),
        )  # fmt: skip
        cycle = RegionCycle(settings, esi, state, publisher, deadlines, resolver)
        yield FetcherResources(settings, esi, state, nats_client, cycle, deadlines)


async def resolve_regions(resources: FetcherResources) -> list[int]:
    if resources.settings.regions:
        return list(resources.settings.regions)
    response, regions = await resources.esi.get_json(
        "regions", "/universe/regions", region_list.validate_json, priority=Priority.DISCOVERY
    )
    if regions is None:
        raise UnexpectedEsiStatusError(f"GET /universe/regions: HTTP {response.status}")
    return sorted(regions)


async def ensure_known_contracts(resources: FetcherResources) -> None:
    if not await resources.state.known_is_complete():
        subjects = Subjects(resources.settings.name_prefix)
        await rebuild_known_contracts(resources.nats.jetstream(), subjects, resources.state)


async def run_once(resources: FetcherResources) -> list[CycleReport]:
    """Sweep every region now (conditional requests still apply), enrich, refresh bids."""
    await ensure_known_contracts(resources)
    regions = await resolve_regions(resources)
    return list(await asyncio.gather(*(resources.cycle.run(region) for region in regions)))


def region_retry(settings: FetcherSettings) -> RetryPolicy:
    """How long a region waits after a failed cycle: the ESI backoff, with a longer ceiling
    (a region's cycle already retried each request). Its loop never gives up."""
    return RetryPolicy(
        attempts=1, base_seconds=settings.backoff_base_seconds,
        max_seconds=settings.backoff_max_seconds * 5,
    )  # fmt: skip


async def follow_region(resources: FetcherResources, region_id: int) -> None:
    """Cycle a region for ever: on ESI's schedule after a complete sweep, with backoff after
    a failed one; each completed sweep moves the region's health deadline."""
    settings = resources.settings
    retry = region_retry(settings)
    failures = 0
    while True:
        try:
            await ensure_known_contracts(resources)
            report = await resources.cycle.run(region_id)
        except Exception:
            log.exception("region cycle crashed", extra={"region": region_id})
            report = CycleReport(region_id, degraded=True)
        if report.degraded:
            failures += 1
            delay = retry.delay(failures)
        else:
            failures = 0
            fresh_for = report.fresh_for
            delay = settings.default_cache_seconds if fresh_for is None else fresh_for
            delay = max(delay, settings.min_sweep_interval_seconds)
            delay += random.uniform(0, settings.expiry_jitter_seconds)
            resources.deadlines.completed(region_id, delay)
        _raise_if_cancelled()
        await asyncio.sleep(delay)


def _raise_if_cancelled() -> None:
    """End the current task if it was asked to stop. On Python 3.11 a cancellation can be
    lost on its way through a cycle: ``asyncio.wait_for``, which redis-py uses to send every
    command, returns normally instead of raising when the cancellation arrives just after the
    awaited operation completed (CPython gh-86296, fixed in 3.12). The request stays counted
    in ``Task.cancelling()``, so a loop that checks it still ends, one cycle late at worst."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def serve(settings: FetcherSettings, *, once: bool = False) -> int:
    """Run the fetcher; with ``once``, one full cycle. Returns the exit code."""
    deadlines = SweepDeadlines(settings.health_grace_seconds)
    ops = OpsServer("0.0.0.0", settings.metrics_port, healthy=deadlines.healthy)
    if settings.metrics_port:
        await ops.start()
    try:
        async with fetcher_resources(settings, deadlines=deadlines) as resources:
            if once:
                reports = await run_once(resources)
                degraded = [r.region_id for r in reports if r.degraded]
                if degraded:
                    log.error("regions degraded in this cycle", extra={"regions": degraded})
                return 1 if degraded else 0
            regions = await resolve_regions(resources)
            log.info("fetcher following regions", extra={"regions": len(regions)})
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, stop.set)
            deadlines.follow(regions)
            tasks = [
                asyncio.create_task(follow_region(resources, r), name=f"region-{r}")
                for r in regions
            ]
            await stop.wait()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            return 0
    finally:
        await ops.close()


def run(settings: FetcherSettings, *, once: bool = False) -> int:
    return asyncio.run(serve(settings, once=once))
