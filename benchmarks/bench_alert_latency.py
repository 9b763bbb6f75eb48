"""Alert latency: from the moment a sweep's contracts batch is stored in JetStream to the moment
a live-feed client of the API (``GET /v1/alerts/stream``, server-sent events) receives the alert,
with 10,000 saved searches and a Forge-sized region. Goal: p99 under 2 s.

    uv run python -m benchmarks.bench_alert_latency [--contracts 35000] [--searches 10000]
        [--new 1000]
    uv run python -m benchmarks.bench_alert_latency --contracts 3000 --searches 1000   # quick
    ... --logs DIR --log-level INFO   # keep the processes' output (the notifier logs each match)

What runs: PostgreSQL, NATS JetStream and Redis as the tests find them; the persister, the
notifier and the API as separate processes (``hangar-bay persister``, ``notifier``, ``api``) with
their default settings. This process saves the searches, publishes the sweeps and reads the
live feed.

The searches are ``bench_notifier``'s (built by its own function): 90 % watchlists (one item type
and a maximum price, half of them on a type the sweeps hold), 10 % searches without a type, all
of one account, whose live feed is read. One batch, published and alerted first, warms the
processes up and is not counted. Then two scenarios, one after the other on the same stack:

- cold burst: ``workload.py``'s Forge-like contracts, ``--contracts`` of them, all new, as
  1000-contract ``ContractsBatch`` pages of one sweep, published back to back, each publish
  awaiting JetStream's acknowledgement as the fetcher's publisher does. The persister has to
  write every row: its own latency is bounded by the write rate (CEILINGS.md).
- steady sweep (``--new`` > 0): the region is now stored and matched. The next sweep (a newer
  ESI generation) lists ``--new`` new contracts in place of as many old ones, spread over the
  pages. As the fetcher does, it publishes for each page only the contracts it has never
  published (the pages without one publish nothing), then the delisted contracts and the
  sweep (every listed id: the persister marks the listed contracts seen at the new
  generation). The live case of a sweep every half hour. Counted: the new contracts' alerts.

Each scenario ends, as the fetcher's sweep does, with its ``RegionSweep`` (and, for the steady
sweep, its ``ContractsDelisted``) after its pages; those are applied by the persister like any
message but are not pages, so they have no latency of their own here.

Measured, per alert: stored (the message's JetStream timestamp, from its metadata) → received on
the live feed. The baseline, measured in the same run: the persister's own latency per batch,
stored → committed (the batch's rows of its generation visible in PostgreSQL, polled every
``--poll`` seconds); per alert, committed → received is then the notifier's and the API's share,
and recorded (the alert's ``created_at``: its matching transaction's start) → received mostly
the API's.
Both clocks are this machine's wall clock (the NATS server's and this process's).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from random import Random
from typing import Any

import asyncpg
import httpx
import nats
import orjson
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from benchmarks.bench_notifier import insert_searches as insert_bench_notifier_searches
from benchmarks.support import (
    Databases,
    Stopwatch,
    benchmark_servers,
    cleanup_after,
    load_average,
    note,
    number,
    percentile,
    print_table,
    unique_prefix,
)
from benchmarks.workload import GENERATION, PAGE_SIZE, REGION, Message, make_load, page_message
from common.db import asyncpg_dsn
from common.messages import ContractsDelisted, RegionSweep
from common.stream import ensure_streams
from common.subjects import Subjects
from services.api.account_store import add_key
from services.notifier.settings import NotifierSettings
from services.persister.settings import PersisterSettings
from services.stack.servers import ServerUrls, free_port, wait_for_port
from tests.support.live_feed import FeedEvent, LiveFeed, listening

CLI = [sys.executable, "-m", "services.cli"]
GOAL_P99_SECONDS = 2.0
#: The account ``bench_notifier``'s searches belong to.
BENCH_ACCOUNT = "bench"
#: Between two sweeps of a region (ESI's cache time of public contracts).
SWEEP_INTERVAL = timedelta(minutes=30)


@dataclass(frozen=True)
class Logs:
    """Where the processes' output goes (``None``: a temporary directory) and at what level."""

    directory: Path | None
    level: str


@dataclass
class Stack:
    """The persister, notifier and API processes of one run, their output in ``log_dir``."""

    log_dir: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, name: str, arguments: Sequence[str], env: dict[str, str]) -> None:
        with (self.log_dir / f"{name}.log").open("wb") as log:
            self.processes[name] = subprocess.Popen(
                [*CLI, *arguments], env=env, stdout=log, stderr=subprocess.STDOUT
            )

    def check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                tail = (self.log_dir / f"{name}.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{name} exited with {process.returncode}:\n{tail}")

    def stop(self) -> None:
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextlib.contextmanager
def _log_directory(kept: Path | None) -> Iterator[Path]:
    if kept is not None:
        kept.mkdir(parents=True, exist_ok=True)
        yield kept
        return
    with tempfile.TemporaryDirectory(prefix="hangar-bench-alerts-") as temporary:
        yield Path(temporary)


@contextlib.contextmanager
def running_stack(
    urls: ServerUrls, prefix: str, database_url: str, api_port: int, logs: Logs
) -> Iterator[Stack]:
    env = {
        **os.environ,
        "HANGAR_DATABASE_URL": database_url,
        "HANGAR_NATS_URL": urls.nats_url,
        "HANGAR_REDIS_URL": urls.redis_url,
        "HANGAR_NAME_PREFIX": prefix,
        "HANGAR_LOG_LEVEL": logs.level,
        "HANGAR_LOG_JSON": "true",
    }
    with _log_directory(logs.directory) as log_dir:
        stack = Stack(log_dir)
        try:
            stack.start("persister", ["persister"], env)
            stack.start("notifier", ["notifier"], env)
            stack.start("api", ["api", "--port", str(api_port)], env)
            wait_for_port(api_port, stack.processes["api"], "api", timeout=60)
            yield stack
        finally:
            stack.stop()


async def wait_until(
    what: str, stack: Stack, within: float, condition: Callable[[], Awaitable[bool]]
) -> None:
    """Poll ``condition`` until it holds, the processes alive; fail after ``within`` s."""
    deadline = time.monotonic() + within
    while not await condition():
        stack.check_alive()
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not reached within {within:.0f} s")
        await asyncio.sleep(0.05)


async def consumers_ready(js: JetStreamContext, subjects: Subjects) -> bool:
    """Both durable consumers exist and have a pull request waiting."""
    for durable in (subjects.persister_durable, subjects.notifier_durable):
        try:
            info = await js.consumer_info(subjects.stream, durable)
        except NotFoundError:
            return False
        if not info.num_waiting:
            return False
    return True


async def notifier_settled(js: JetStreamContext, subjects: Subjects) -> bool:
    info = await js.consumer_info(subjects.stream, subjects.notifier_durable)
    return not info.num_pending and not info.num_ack_pending


class CommitWatch:
    """When each batch became visible in PostgreSQL: one contract per batch is looked for, at
    the batch's generation, every ``interval`` seconds (the persister commits a fetch of batches
    in one transaction)."""

    def __init__(self, markers: dict[int, int], generation: datetime, interval: float) -> None:
        self._pending = dict(markers)  # contract id -> batch index
        self._generation = generation
        self._interval = interval
        self.committed: dict[int, float] = {}  # batch index -> wall clock

    @property
    def done(self) -> bool:
        return not self._pending

    async def run(self, database_url: str) -> None:
        connection = await asyncpg.connect(asyncpg_dsn(database_url))
        try:
            while self._pending:
                rows = await connection.fetch(
                    "SELECT contract_id FROM contracts WHERE contract_id = ANY($1::bigint[])"
                    " AND source_last_modified >= $2",
                    list(self._pending),
                    self._generation,
                )
                seen = time.time()
                for row in rows:
                    self.committed[self._pending.pop(row["contract_id"])] = seen
                await asyncio.sleep(self._interval)
        finally:
            await connection.close()


async def stored_timestamps(
    js: JetStreamContext, subjects: Subjects, last: int
) -> dict[int, float]:
    """Stream sequence → when JetStream stored the message (its metadata's timestamp), for the
    contracts batches of the stream up to the sequence ``last``."""
    subscription = await js.subscribe(subjects.all_contracts, ordered_consumer=True)
    stored: dict[int, float] = {}
    try:
        while not stored or max(stored) < last:
            message = await subscription.next_msg(timeout=10)
            stored[message.metadata.sequence.stream] = message.metadata.timestamp.timestamp()
    finally:
        await subscription.unsubscribe()
    return stored


async def analyze_contract_tables(database_url: str) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await connection.execute("ANALYZE contracts, contract_items")
    finally:
        await connection.close()


async def alerts_pushed(database_url: str) -> int:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        value = await connection.fetchval("SELECT count(*) FROM alerts WHERE NOT throttled")
    finally:
        await connection.close()
    return int(value)


async def prepare_database(
    database_url: str, searches: int, contracts: list[dict[str, Any]], seed: int
) -> str:
    """Save the searches (as ``bench_notifier`` does) and return an API key of their account."""
    load_types = sorted({item["type_id"] for c in contracts for item in c["items"]})
    locations = sorted({c["start_location_id"] for c in contracts})
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        with Stopwatch() as watch:
            await insert_bench_notifier_searches(connection, searches, load_types, locations, seed)
        note(f"{searches:,} searches saved in {watch.seconds:.2f} s")
        key = await add_key(connection, BENCH_ACCOUNT)
    finally:
        await connection.close()
    return key.key


async def publish(js: JetStreamContext, messages: Sequence[Message]) -> list[int]:
    """Publish back to back, each acknowledged before the next; the stream sequences."""
    sequences = []
    for message in messages:
        ack = await js.publish(
            message.subject, message.body, headers={"Nats-Msg-Id": message.message_id}
        )
        if ack.duplicate:  # a page published again unchanged: it would measure nothing
            raise RuntimeError(f"{message.message_id} was deduplicated by JetStream")
        sequences.append(ack.seq)
    return sequences


# -- the sweeps -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sweep:
    """The pages of one sweep as messages, when its rows count as committed, and which of its
    contracts are counted (their alerts)."""

    name: str
    messages: list[Message]
    generation: datetime
    #: contract id -> index of its page in ``messages``, for the contracts whose alerts count
    counted: dict[int, int]
    #: per page, a contract whose row the page's commit writes at ``generation``
    markers: dict[int, int]
    #: published after the pages: the delisted contracts and the sweep
    trailer: list[Message]


def _pages(contracts: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    return [contracts[start : start + PAGE_SIZE] for start in range(0, len(contracts), PAGE_SIZE)]


def sweep_message(
    listed: list[int], pages: int, generation: datetime, subjects: Subjects
) -> Message:
    """The fetcher's ``RegionSweep`` of a generation that lists ``listed``."""
    sweep = RegionSweep(
        region_id=REGION,
        generation=generation,
        swept_at=generation + timedelta(seconds=30),
        pages=pages,
        contract_ids=listed,
    )
    return Message(subjects.sweep(REGION), sweep.to_json(), sweep.message_id(), 0, 0, {})


def delisted_message(
    gone: list[int], generation: datetime, previous: datetime, subjects: Subjects
) -> Message:
    """The fetcher's ``ContractsDelisted`` of a generation that no longer lists ``gone``."""
    delisted = ContractsDelisted(
        region_id=REGION,
        generation=generation,
        previous_generation=previous,
        previous_swept_at=previous + timedelta(seconds=30),
        contract_ids=gone,
    )
    subject = subjects.delisted(REGION, str(int(generation.timestamp())))
    return Message(subject, delisted.to_json(), delisted.message_id(), 0, 0, {})


def _sweep(
    name: str,
    pages: list[tuple[int, list[dict[str, Any]]]],
    generation: datetime,
    subjects: Subjects,
    counted: set[int] | None = None,
    trailer: Sequence[Message] = (),
) -> Sweep:
    """``pages``: (ESI page number, the contracts its message carries); ``counted``: the
    contracts whose alerts count (``None``: every one)."""
    return Sweep(
        name,
        [
            page_message(
                page,
                number,
                subjects,
                etag=f'"alerts-{int(generation.timestamp())}-{number}"',
                generation=generation,
            )
            for number, page in pages
        ],
        generation,
        {
            c["contract_id"]: index
            for index, (_, page) in enumerate(pages)
            for c in page
            if counted is None or c["contract_id"] in counted
        },
        {page[-1]["contract_id"]: index for index, (_, page) in enumerate(pages)},
        list(trailer),
    )


@dataclass(frozen=True)
class Plan:
    warm_up: Sweep
    cold: Sweep
    steady: Sweep | None
    contracts: list[dict[str, Any]]  # every contract of the plan, for the searches


def plan_sweeps(contracts: int, new: int, seed: int, subjects: Subjects) -> Plan:
    """The warm-up page, the cold burst (every contract new) and the steady sweep (the burst's
    pages again at the next generation, ``new`` of their contracts replaced by new ones)."""
    load = make_load(PAGE_SIZE + contracts + new, seed, subjects)
    every = [c for message in load.messages for c in orjson.loads(message.body)["contracts"]]
    warm_up, burst, fresh = (
        every[:PAGE_SIZE],
        every[PAGE_SIZE : PAGE_SIZE + contracts],
        every[PAGE_SIZE + contracts :],
    )
    cold_pages = _pages(burst)
    pages = len(cold_pages) + 1
    listed = [c["contract_id"] for c in every[: PAGE_SIZE + contracts]]
    warm = _sweep("warm-up", [(1, warm_up)], GENERATION, subjects)
    cold = _sweep(
        "cold burst",
        list(enumerate(cold_pages, start=2)),
        GENERATION,
        subjects,
        trailer=[sweep_message(listed, pages, GENERATION, subjects)],
    )
    if not new:
        return Plan(warm, cold, None, every)
    rng = Random(seed)
    slots = rng.sample(
        [(p, i) for p, page in enumerate(cold_pages) for i in range(len(page))], len(fresh)
    )
    steady_pages: dict[int, list[dict[str, Any]]] = {}
    gone = []
    for (page, index), contract in sorted(zip(slots, fresh, strict=True), key=lambda s: s[0]):
        gone.append(cold_pages[page][index]["contract_id"])  # the one it replaces
        steady_pages.setdefault(page + 2, []).append(contract)
    generation = GENERATION + SWEEP_INTERVAL
    still_listed = sorted(set(listed) - set(gone) | {c["contract_id"] for c in fresh})
    steady = _sweep(
        "steady sweep",
        sorted(steady_pages.items()),
        generation,
        subjects,
        {c["contract_id"] for c in fresh},
        trailer=[
            delisted_message(sorted(gone), generation, GENERATION, subjects),
            sweep_message(still_listed, pages, generation, subjects),
        ],
    )
    return Plan(warm, cold, steady, every)


# -- measuring --------------------------------------------------------------------------------


@dataclass
class Figures:
    name: str
    batches: int
    contracts: int
    counted_contracts: int
    alerts: int
    publish_seconds: float
    settle_seconds: float
    persister: list[float]  # per batch: stored -> committed
    alert: list[float]  # per alert: stored -> received
    share: list[float]  # per alert: committed -> received
    api: list[float]  # per alert: recorded (its created_at) -> received
    first_alert: list[float]  # per batch with alerts: stored -> its first alert received
    uncounted_alerts: int  # alerts of contracts not counted (republished ones): should be 0
    load: str


@dataclass
class Run:
    """What one scenario needs of the stack."""

    stack: Stack
    js: JetStreamContext
    subjects: Subjects
    database_url: str
    feed: LiveFeed
    poll: float
    within: float


async def run_sweep(run: Run, sweep: Sweep) -> tuple[list[int], dict[int, float], float, float]:
    """Publish the sweep and wait until every alert it makes is on the live feed: its stream
    sequences, when each page was committed, the publish time and the time to settle."""
    watch = CommitWatch(sweep.markers, sweep.generation, run.poll)
    watching = asyncio.create_task(watch.run(run.database_url))

    async def received() -> bool:
        if watching.done():
            watching.result()  # the watch's own error, if it failed
        return (
            watch.done
            and await notifier_settled(run.js, run.subjects)
            and len(run.feed.alerts()) >= await alerts_pushed(run.database_url)
        )

    try:
        started = time.monotonic()
        with Stopwatch() as publishing:
            sequences = await publish(run.js, sweep.messages)
            await publish(run.js, sweep.trailer)
        await wait_until(f"the {sweep.name} alerted", run.stack, run.within, received)
        settled = time.monotonic() - started
    finally:
        watching.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watching
    return sequences, watch.committed, publishing.seconds, settled


async def measure(
    urls: ServerUrls,
    contracts: int,
    new: int,
    searches: int,
    seed: int,
    poll: float,
    within: float,
    logs: Logs,
    analyze: bool = False,
) -> list[Figures]:
    prefix = unique_prefix("alerts")
    subjects = Subjects(prefix)
    databases = Databases(urls.database_url, prefix)
    figures: list[Figures] = []
    async with cleanup_after(urls, prefix, databases, keep=False):
        database_url = await databases.fresh("alerts")
        plan = plan_sweeps(contracts, new, seed, subjects)
        key = await prepare_database(database_url, searches, plan.contracts, seed)
        client = await nats.connect(urls.nats_url)
        api_port = free_port()
        try:
            js = client.jetstream()
            await ensure_streams(js, subjects)
            with running_stack(urls, prefix, database_url, api_port, logs) as stack:
                await wait_until(
                    "persister and notifier pulling",
                    stack,
                    120,
                    lambda: consumers_ready(js, subjects),
                )
                async with (
                    httpx.AsyncClient(base_url=f"http://127.0.0.1:{api_port}", timeout=60) as api,
                    listening(api, key) as feed,
                ):
                    run = Run(stack, js, subjects, database_url, feed, poll, within)
                    await run_sweep(run, plan.warm_up)
                    if analyze:
                        await analyze_contract_tables(database_url)
                    for sweep in (plan.cold, plan.steady):
                        if sweep is None:
                            continue
                        before = len(feed.alerts())
                        sequences, committed, publish_seconds, settled = await run_sweep(run, sweep)
                        stored_by_sequence = await stored_timestamps(js, subjects, max(sequences))
                        figures.append(
                            _figures(
                                sweep,
                                feed.alerts()[before:],
                                [stored_by_sequence[s] for s in sequences],
                                committed,
                                publish_seconds,
                                settled,
                            )
                        )
        finally:
            await client.close()
    return figures


def _figures(
    sweep: Sweep,
    events: list[FeedEvent],
    stored: list[float],
    committed: dict[int, float],
    publish_seconds: float,
    settle_seconds: float,
) -> Figures:
    alert: list[float] = []
    share: list[float] = []
    api: list[float] = []
    first: dict[int, float] = {}
    uncounted = 0
    for event in events:
        assert event.data is not None
        batch = sweep.counted.get(event.data["contract_id"])
        if batch is None:
            uncounted += 1
            continue
        alert.append(event.received_at - stored[batch])
        share.append(event.received_at - committed[batch])
        api.append(event.received_at - datetime.fromisoformat(event.data["created_at"]).timestamp())
        first[batch] = min(first.get(batch, float("inf")), event.received_at - stored[batch])
    return Figures(
        name=sweep.name,
        batches=len(stored),
        contracts=sum(m.contracts for m in sweep.messages),
        counted_contracts=len(sweep.counted),
        alerts=len(alert),
        publish_seconds=publish_seconds,
        settle_seconds=settle_seconds,
        persister=[committed[batch] - stored[batch] for batch in range(len(stored))],
        alert=alert,
        share=share,
        api=api,
        first_alert=list(first.values()),
        uncounted_alerts=uncounted,
        load=load_average(),
    )


def _row(label: str, values: list[float]) -> list[str]:
    if not values:
        return [label, "0", "-", "-", "-"]
    return [
        label,
        number(len(values)),
        number(percentile(values, 0.50), 3),
        number(percentile(values, 0.99), 3),
        number(max(values), 3),
    ]


def report(figures: Figures, searches: int) -> None:
    print_table(
        f"{figures.name}, seconds: {figures.batches} batches ({figures.contracts:,} contracts,"
        f" {figures.counted_contracts:,} of them new) published in"
        f" {figures.publish_seconds:.2f} s, {searches:,} saved searches, {figures.alerts:,} alerts"
        f" on the live feed, all received {figures.settle_seconds:.2f} s after the first publish",
        ["measure", "count", "p50", "p99", "max"],
        [
            _row("baseline: persister, stored → committed (per batch)", figures.persister),
            _row("alert: stored → received on the live feed", figures.alert),
            _row("notifier + API: committed → received", figures.share),
            _row("API: alert recorded (created_at) → received", figures.api),
            _row("first alert of each batch: stored → received", figures.first_alert),
        ],
    )
    if figures.alert:
        p99 = percentile(figures.alert, 0.99)
        verdict = "met" if p99 < GOAL_P99_SECONDS else "NOT met"
        note(
            f"goal: p99 stored → received < {GOAL_P99_SECONDS:.0f} s: {verdict} (p99 {p99:.3f} s);"
            f" alert p99 / persister p99 = {p99 / percentile(figures.persister, 0.99):.2f}"
        )
    if figures.uncounted_alerts:
        note(f"{figures.uncounted_alerts:,} alerts of contracts listed before (should be none)")
    note(f"after the {figures.name}: {figures.load}")


def report_defaults(poll: float) -> None:
    notifier, persister = NotifierSettings(), PersisterSettings()
    note(
        f"defaults in force: notifier fetch_batch {notifier.fetch_batch},"
        f" visibility_retry_seconds {notifier.visibility_retry_seconds},"
        f" visibility_hold_seconds {notifier.visibility_hold_seconds};"
        f" persister fetch_batch {persister.fetch_batch},"
        f" apply_concurrency {persister.apply_concurrency};"
        f" commits polled every {poll * 1000:.0f} ms"
    )


async def main(options: argparse.Namespace) -> None:
    with benchmark_servers(options.work_dir) as urls:
        note(load_average())
        note(f"cores: {os.cpu_count()}")
        all_figures = await measure(
            urls,
            options.contracts,
            options.new,
            options.searches,
            options.seed,
            options.poll,
            options.timeout,
            Logs(options.logs, options.log_level),
            options.analyze_after_warm_up,
        )
        if options.analyze_after_warm_up:
            note("ANALYZE of contracts and contract_items ran after the warm-up batch")
        for figures in all_figures:
            report(figures, options.searches)
        report_defaults(options.poll)
        note(load_average())


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--contracts", type=int, default=35_000, help="contracts in the burst")
    parser.add_argument(
        "--new",
        type=int,
        default=1_000,
        help="new contracts in the steady sweep (0: no steady sweep)",
    )
    parser.add_argument("--searches", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--poll", type=float, default=0.01, help="commit polling interval (s)")
    parser.add_argument("--timeout", type=float, default=900, help="longest wait for a phase (s)")
    parser.add_argument("--work-dir", type=Path, default=None)
    parser.add_argument(
        "--logs", type=Path, default=None, help="keep the processes' output in this directory"
    )
    parser.add_argument("--log-level", default="WARNING", help="the processes' log level")
    parser.add_argument(
        "--analyze-after-warm-up",
        action="store_true",
        help="ANALYZE the contract tables before the burst (the planner then knows their "
        "statistics, as autovacuum would tell it later)",
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse()))
