"""The notifier process: a durable pull consumer that matches contracts batches, and the
webhook delivery loop; resources are created here and closed here."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

import asyncpg
import nats
from nats.errors import Error as NatsError

from common.db import asyncpg_dsn
from common.ops_server import OpsServer
from common.pull_loop import PullLoop
from common.stream import ensure_streams, stream_limits
from common.subjects import Subjects
from services.notifier import metrics
from services.notifier.commits import CommitSignal
from services.notifier.consumer import fetch_handler, pull_subscription
from services.notifier.settings import NotifierSettings
from services.notifier.webhooks import deliver_due, http_client

log = logging.getLogger(__name__)


async def consume(
    pool: asyncpg.Pool,
    settings: NotifierSettings,
    commits: CommitSignal,
    stop: asyncio.Event,
    queued: asyncio.Event,
) -> None:
    """Match what the durable consumer delivers until ``stop``; then the fetch under way ends,
    the batch being matched is settled, and what was fetched and not matched is handed back
    (:mod:`common.pull_loop`)."""
    subjects = Subjects(settings.name_prefix)
    client = await nats.connect(settings.nats_url.split(","), max_reconnect_attempts=-1)
    try:
        js = client.jetstream()
        await ensure_streams(js, subjects, stream_limits(settings))
        pull_loop = PullLoop(
            client,
            await pull_subscription(js, settings),
            fetch_handler(pool, settings, commits, queued),
            batch=settings.fetch_batch,
            fetch_timeout=settings.fetch_timeout_seconds,
        )
        log.info("notifier consuming", extra={"durable": subjects.notifier_durable})
        consuming = asyncio.create_task(pull_loop.run())
        stopped = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({consuming, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
            pull_loop.stop()
            commits.close_waits()  # a batch held for the persister is handed back now
            await consuming
    finally:
        with contextlib.suppress(NatsError, OSError):
            await client.drain()
        if not client.is_closed:
            with contextlib.suppress(NatsError, OSError):
                await client.close()


async def deliver(
    pool: asyncpg.Pool, settings: NotifierSettings, stop: asyncio.Event, queued: asyncio.Event
) -> None:
    """Send due webhook calls: at once when the consumer queued some, else every poll."""
    async with http_client(settings) as client:
        while not stop.is_set():
            try:
                sent = await deliver_due(pool, client, settings)
                metrics.WEBHOOK_ATTEMPTS.inc(sent)
            except Exception:
                log.exception("webhook delivery round failed")
                sent = 0
            if not sent:
                await _first_of(queued, stop, timeout=settings.webhook_poll_seconds)
                queued.clear()


async def _first_of(*events: asyncio.Event, timeout: float) -> None:  # noqa: ASYNC109
    waits = [asyncio.create_task(event.wait()) for event in events]
    try:
        await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()
        await asyncio.gather(*waits, return_exceptions=True)


async def serve(settings: NotifierSettings, stop: asyncio.Event | None = None) -> None:
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    pool = await asyncpg.create_pool(
        asyncpg_dsn(settings.database_url),
        min_size=1,
        max_size=settings.database_pool_size,
        server_settings={"application_name": "hangar-bay-notifier", "TimeZone": "UTC"},
    )
    ops = OpsServer("0.0.0.0", settings.metrics_port, healthy=lambda: not stop.is_set())
    commits = CommitSignal(asyncpg_dsn(settings.database_url))
    try:
        if settings.metrics_port:
            await ops.start()
        await commits.start()
        queued = asyncio.Event()
        tasks = [
            asyncio.create_task(consume(pool, settings, commits, stop, queued)),
            asyncio.create_task(deliver(pool, settings, stop, queued)),
        ]
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        for task in done:
            task.result()
    finally:
        await commits.close()
        await pool.close()
        await ops.close()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)


def run(settings: NotifierSettings) -> None:
    asyncio.run(serve(settings))
