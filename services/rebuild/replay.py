"""``hangar-bay replay``: rebuild a database from the stream through the persister's own
apply code.

The replay reads with a durable pull consumer of its own, named after the target database
(``{prefix}_replay_{database}``): an existing durable's deliver policy cannot be changed, and a
consumer per target makes an interrupted replay resume where it stopped (applying is
idempotent, so ``--restart`` from the first message is harmless too). It stops once it has
caught up with the stream's head.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import sys
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import asyncpg
import nats
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from common.db import asyncpg_dsn
from common.migration import ensure_database, upgrade_async
from common.pull_loop import PullLoop
from common.sde.loader import load_catalog
from common.settings import HangarSettings
from common.subjects import Subjects
from services.persister.applier import Rejected, apply_deliveries
from services.persister.consumer import delivery_of
from services.rebuild.set_aside import restore_set_aside, set_aside

log = logging.getLogger(__name__)

#: As the persister: fetches of a few messages, two applied at once (each in its own
#: transaction), so that PostgreSQL works on two cores while the next fetch arrives.
FETCH_BATCH = 8
APPLY_CONCURRENCY = 2
LOG_EVERY_SECONDS = 5.0


class StreamMissingError(RuntimeError):
    pass


@dataclass
class ReplayReport:
    messages: int = 0
    contracts: int = 0
    rows: int = 0
    rejected: int = 0
    seconds: float = 0.0
    #: Time during which PostgreSQL worked for the replay: applying, and building the indexes
    #: set aside (``index_seconds`` of it).
    apply_seconds: float = 0.0
    index_seconds: float = 0.0
    #: Indexes and foreign keys set aside by this run (into an empty target).
    set_aside: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)

    def seconds_so_far(self) -> float:
        return max(1e-6, time.perf_counter() - self.started)

    @property
    def rate(self) -> float:
        return self.contracts / self.seconds if self.seconds else 0.0


def replay_consumer_name(subjects: Subjects, database_url: str) -> str:
    database = urlsplit(asyncpg_dsn(database_url)).path.lstrip("/") or "postgres"
    return f"{subjects.prefix}_replay_{re.sub(r'[^A-Za-z0-9_-]', '_', database)}"[:200]


async def _consumer(js: JetStreamContext, subjects: Subjects, name: str, *, restart: bool) -> int:
    """Create (or, with ``restart``, recreate) the replay consumer; returns pending count."""
    try:
        info = await js.stream_info(subjects.stream)
    except NotFoundError:
        raise StreamMissingError(
            f"stream {subjects.stream} does not exist on this NATS server "
            f"(check HANGAR_NATS_URL and HANGAR_NAME_PREFIX)"
        ) from None
    if restart:
        with contextlib.suppress(NotFoundError):
            await js.delete_consumer(subjects.stream, name)
    try:
        consumer = await js.consumer_info(subjects.stream, name)
    except NotFoundError:
        consumer = await js.add_consumer(
            subjects.stream,
            ConsumerConfig(
                durable_name=name,
                deliver_policy=DeliverPolicy.ALL,
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=300,
                max_ack_pending=FETCH_BATCH * 4,
                filter_subject=subjects.all_events,
                inactive_threshold=7 * 24 * 3600,
                description="hangar-bay replay",
            ),
        )
    log.info("replaying", extra={"stream_messages": info.state.messages, "consumer": name})
    return int(consumer.num_pending or 0)


async def replay(
    settings: HangarSettings,
    target_url: str,
    *,
    restart: bool = False,
    migrate: bool = True,
    defer_indexes: bool = True,
) -> ReplayReport:
    """Replay the stream into ``target_url`` until caught up with its head. Into an empty
    target, with ``defer_indexes``, the read-side indexes and the foreign keys are built
    once at the end (:mod:`services.rebuild.set_aside`)."""
    if migrate:
        await ensure_database(target_url)
        await upgrade_async(target_url)
        await load_catalog(target_url)
    subjects = Subjects(settings.name_prefix)
    client = await nats.connect(settings.nats_url.split(","))
    pool = await asyncpg.create_pool(
        asyncpg_dsn(target_url), min_size=1, max_size=APPLY_CONCURRENCY + 1
    )
    report = ReplayReport()
    busy = BusyClock()
    started = time.perf_counter()
    try:
        js = client.jetstream()
        name = replay_consumer_name(subjects, target_url)
        pending = await _consumer(js, subjects, name, restart=restart)
        if defer_indexes:
            async with pool.acquire() as connection:
                report.set_aside = await set_aside(connection)
        subscription = await js.pull_subscribe_bind(name, stream=subjects.stream)
        with ReplayProgress(pending) as advance:

            async def apply_fetch(
                messages: list[Msg], earlier: frozenset[asyncio.Task[None]]
            ) -> None:
                deliveries = [delivery_of(m) for m in messages]
                with busy:
                    outcome = await apply_deliveries(pool, deliveries)
                if outcome.retry:
                    # Bids whose contracts a fetch still being applied brings: once every
                    # earlier fetch is committed, they are there (or never will be).
                    if earlier:
                        await asyncio.wait(earlier)
                    again = sorted(outcome.retry)
                    with busy:
                        second = await apply_deliveries(pool, [deliveries[i] for i in again])
                    outcome.result += second.result
                    for index, reason in second.retry.items():
                        original = again[index]
                        outcome.rejected.append(
                            Rejected(original, reason, deliveries[original].body)
                        )
                    for rejected in second.rejected:
                        original = again[rejected.index]
                        outcome.rejected.append(
                            Rejected(original, rejected.reason, deliveries[original].body)
                        )
                for rejected in outcome.rejected:
                    log.error(
                        "message cannot be applied",
                        extra={"stream_sequence": deliveries[rejected.index].stream_sequence,
                               "reason": rejected.reason},
                    )  # fmt: skip
                report.rejected += len({r.index for r in outcome.rejected})
                for message in messages:
                    await message.ack()  # applied, or unappliable and reported: settled
                report.messages += len(messages)
                report.contracts += outcome.contracts
                report.rows += outcome.result.rows
                advance(len(messages), report)

            async def caught_up() -> bool:
                info = await js.consumer_info(subjects.stream, name)
                return not info.num_pending and not info.num_ack_pending

            def fetch_timeout() -> float:
                # Once what was pending at the start has been fetched, an empty fetch needs no
                # long wait: the consumer's state then says whether anything is left.
                return 1.0 if pull_loop.counts.messages < pending else 0.05

            pull_loop = PullLoop(
                client,
                subscription,
                apply_fetch,
                batch=FETCH_BATCH,
                fetch_timeout=fetch_timeout,
                concurrency=APPLY_CONCURRENCY,
                when_empty=caught_up,
            )
            await pull_loop.run()
        await client.flush()
        index_started = time.perf_counter()
        with busy:
            await restore_set_aside(pool, parallel=APPLY_CONCURRENCY)
        report.index_seconds = time.perf_counter() - index_started
    finally:
        report.seconds = time.perf_counter() - started
        report.apply_seconds = busy.seconds
        await pool.close()
        await client.close()
    return report


class BusyClock:
    """Wall-clock time during which at least one fetch was being applied (concurrent applies
    overlap: their sum would count the same second twice)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._running = 0
        self._since = 0.0

    def __enter__(self) -> None:
        if self._running == 0:
            self._since = time.perf_counter()
        self._running += 1

    def __exit__(self, *exc: object) -> None:
        self._running -= 1
        if self._running == 0:
            self.seconds += time.perf_counter() - self._since


class ReplayProgress:
    """A progress bar on a terminal, periodic log lines otherwise."""

    def __init__(self, total: int) -> None:
        self._total = total
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        self._last_log = time.monotonic()
        self._done = 0

    def __enter__(self) -> ReplayProgress:
        if sys.stderr.isatty():
            self._bar = Progress(
                TextColumn("replay"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[detail]}"), TimeElapsedColumn(),
            )  # fmt: skip
            self._bar.start()
            self._task = self._bar.add_task("replay", total=self._total, detail="")
        return self

    def __call__(self, messages: int, report: ReplayReport) -> None:
        self._done += messages
        rate = report.contracts / report.seconds_so_far()
        detail = f"{report.contracts} contracts, {report.rows} rows, {rate:,.0f} contracts/s"
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, completed=self._done, detail=detail)
        elif time.monotonic() - self._last_log >= LOG_EVERY_SECONDS:
            self._last_log = time.monotonic()
            log.info(
                "replay progress",
                extra={"messages": self._done, "of": self._total, "detail": detail},
            )

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()


def run(
    settings: HangarSettings,
    target_url: str,
    *,
    restart: bool,
    migrate: bool,
    defer_indexes: bool = True,
) -> int:
    try:
        report = asyncio.run(
            replay(
                settings, target_url, restart=restart, migrate=migrate, defer_indexes=defer_indexes
            )
        )
    except StreamMissingError as error:
        log.error("replay impossible: %s", error)
        return 2
    rate = report.contracts / report.apply_seconds if report.apply_seconds else 0.0
    log.info(
        "replay done",
        extra={
            "messages": report.messages,
            "contracts": report.contracts,
            "rows": report.rows,
            "rejected": report.rejected,
            "seconds": round(report.seconds, 2),
            "apply_seconds": round(report.apply_seconds, 2),
            "index_seconds": round(report.index_seconds, 2),
            "contracts_per_apply_second": round(rate),
        },
    )
    return 1 if report.rejected else 0
