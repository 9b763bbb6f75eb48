"""The persister process: resources created here, closed here; SIGTERM drains gracefully."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable

import asyncpg
import nats
from nats.errors import Error as NatsError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from common.db import asyncpg_dsn
from common.event_wait import event_set_within
from common.ops_server import OpsServer
from common.pull_loop import PullLoop
from common.stream import ensure_streams, stream_limits
from common.subjects import Subjects
from services.persister import metrics
from services.persister.consumer import fetch_handler, pull_subscription
from services.persister.settings import PersisterSettings

log = logging.getLogger(__name__)

IDLE_CHECK_SECONDS = 0.5
LAG_CHECK_SECONDS = 5.0


async def consumer_is_idle(js: JetStreamContext, subjects: Subjects) -> bool:
    """Nothing left to deliver and nothing delivered but unsettled."""
    try:
        info = await js.consumer_info(subjects.stream, subjects.persister_durable, timeout=10)
    except (NotFoundError, NatsTimeoutError):
        return False
    metrics.CONSUMER_PENDING.set(info.num_pending or 0)
    return not info.num_pending and not info.num_ack_pending and not info.num_redelivered


async def serve(settings: PersisterSettings, *, until_idle: bool = False) -> None:
    subjects = Subjects(settings.name_prefix)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    client = await nats.connect(settings.nats_url.split(","), max_reconnect_attempts=-1)
    ops = OpsServer("0.0.0.0", settings.metrics_port, healthy=lambda: client.is_connected)
    # No connection at start: a persister started while PostgreSQL is down consumes once it
    # is back (each fetch's apply waits out the outage and hands the fetch back meanwhile).
    pool = await asyncpg.create_pool(
        asyncpg_dsn(settings.database_url),
        min_size=0,
        max_size=max(settings.database_pool_size, settings.apply_concurrency),
    )
    consuming: asyncio.Task[None] | None = None
    pull_loop: PullLoop | None = None
    try:
        if settings.metrics_port:
            await ops.start()
        js = client.jetstream()
        await ensure_streams(js, subjects, stream_limits(settings))
        # One fetch at a time; up to ``apply_concurrency`` fetches applied at once, each in its
        # own transaction, as by that many processes.
        pull_loop = PullLoop(
            client,
            await pull_subscription(js, settings),
            fetch_handler(pool, js, settings),
            batch=settings.fetch_batch,
            fetch_timeout=settings.fetch_timeout_seconds,
            concurrency=settings.apply_concurrency,
        )
        consuming = asyncio.create_task(pull_loop.run())
        log.info(
            "persister consuming",
            extra={"stream": subjects.stream, "durable": subjects.persister_durable},
        )
        idle_streak = 0
        while not stop.is_set() and not consuming.done():
            await event_set_within(stop, IDLE_CHECK_SECONDS if until_idle else LAG_CHECK_SECONDS)
            idle = await consumer_is_idle(js, subjects)
            idle_streak = idle_streak + 1 if idle else 0
            if until_idle and idle_streak >= 2:
                log.info("nothing pending: persister stops")
                break
    finally:
        # Graceful: the fetch under way ends, fetches being applied finish and are settled;
        # what was fetched and not applied goes back to JetStream at once, not after ack_wait.
        if pull_loop is not None and consuming is not None:
            pull_loop.stop()
            await consuming
        await _unless_nats_is_gone(client.drain())
        if not client.is_closed:
            await _unless_nats_is_gone(client.close())
        await pool.close()
        await ops.close()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)


async def _unless_nats_is_gone(closing: Awaitable[None]) -> None:
    """Close the NATS side; if NATS is already gone (stopped with the persister, say), what was
    not acked is redelivered by JetStream later: nothing to do but say so."""
    try:
        await closing
    except (NatsError, OSError) as error:
        log.warning(
            "NATS gone while stopping: unacked messages come again", extra={"error": repr(error)}
        )


def run(settings: PersisterSettings, *, until_idle: bool = False) -> None:
    asyncio.run(serve(settings, until_idle=until_idle))
