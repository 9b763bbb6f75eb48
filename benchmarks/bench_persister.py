"""Persister throughput on a Forge-sized load, against baselines measured in the same run.

    uv run python -m benchmarks.bench_persister                  # 35,000 contracts, 3 repeats
    uv run python -m benchmarks.bench_persister --contracts 3000 --orm-contracts 200 --repeat 1

What is measured, each phase on a fresh database migrated to head (PK, FK, every index):

a. the persister end to end: the load published as 1000-contract ``ContractsBatch`` messages
   (one per ESI page) to JetStream, then ``services.persister.main.serve(until_idle=True)``
   timed from call to return. ``serve`` only stops after two idle checks 0.5 s apart, so the
   same call on an empty stream (startup, two idle checks, shutdown) is timed as well and
   "net" = raw - empty. The moment the last message was acked is also observed (the
   persister's own ``messages_applied`` counter, polled in-process every 5 ms).
b. the ceiling: asyncpg ``copy_records_to_table`` of the rows the persister left in (a)'s
   database (every column: its derived fields and the search text the trigram index holds
   included) into the same tables of a fresh database, one transaction, no NATS and no JSON
   (rows read before the clock starts); b') the same of the rows without their derived fields,
   as the ceiling was measured before 2026-12-03.
c. the original design's way: SQLAlchemy ORM ``session.merge`` of every contract and every
   item, one session and transaction per contract, on a subset; reported as a rate.
b2. the same raw COPY on two connections at once (half the contracts with their items each,
   one transaction each): the persister applies two fetches at once.
e. SQLAlchemy Core ``executemany``: per 1000-contract page, one transaction, an upsert of the
   contracts and the items ``ON CONFLICT DO NOTHING`` (the rows built before the clock starts).
f. ``hangar-bay persister --until-idle`` in a process of its own on a fresh database: its peak
   RSS (its own ``VmHWM`` at exit) and its wall time.
d. the same stream applied a second time to the database of (a) (durable consumer deleted and
   recreated): the idempotent no-op path.

Also shown, to explain the gaps: publishing the load (awaiting each ack, as the fetcher does),
the persister's own ``parse_message`` of the load alone, the persister's ``batch_seconds``
(parse + SQL + commit of each fetch), and the longest event-loop stall inside ``serve()``
(a 10 ms ticker measuring its own lateness). A ``serve()`` that raises is reported with the
error and run again from scratch (``--attempts``).

Phases run one after the other (never concurrently) and the repeats of a phase are medians.
The process never holds the parsed load while the persister runs (only the 35 message bodies,
which the garbage collector does not track), so ``gc.freeze()`` is not needed: the persister
runs with a heap much like its own process would have.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import asyncpg
import nats
import typer
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from prometheus_client import REGISTRY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from benchmarks.support import (
    Databases,
    Samples,
    Stopwatch,
    benchmark_servers,
    checkpoint,
    cleanup_after,
    fetch_value,
    load_average,
    megabytes,
    note,
    number,
    own_peak_rss,
    print_table,
    quiet_faststream,
    rate,
    remove_streams,
    reset_own_peak_rss,
    run_child,
    unique_prefix,
)
from benchmarks.workload import (
    PAGE_SIZE,
    Load,
    copy_ceiling,
    copy_rows,
    make_load,
    money,
    stored_rows,
)
from common.db import (
    CONTRACT_COLUMNS,
    ITEM_COLUMNS,
    Contract,
    ContractItem,
    asyncpg_dsn,
    sqlalchemy_url,
)
from common.logs import configure_logging
from common.messages import ContractsBatch, ContractWithItems, parse_message
from common.stream import ensure_streams
from common.subjects import Subjects
from services.persister.main import serve
from services.persister.settings import PersisterSettings
from services.stack.servers import ServerUrls

log = logging.getLogger("benchmarks.persister")


class BenchmarkError(RuntimeError):
    """A phase did not produce what it should have: its timing would be meaningless."""


# -- helpers ----------------------------------------------------------------------------------


def _metric(name: str, labels: dict[str, str] | None = None) -> float:
    """A sample of the persister's own Prometheus metrics (this process's registry)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _applied_batches() -> float:
    return _metric("hangar_persister_messages_applied_total", {"kind": "contracts"})


def _rows_written() -> float:
    return _metric("hangar_persister_rows_written_total", {"table": "contracts"}) + _metric(
        "hangar_persister_rows_written_total", {"table": "contract_items"}
    )


def _dead_letters() -> float:
    return _metric("hangar_persister_dead_letters_total")


async def _delete_consumer(js: JetStreamContext, subjects: Subjects) -> None:
    """So that the next ``serve`` creates the durable consumer again and replays everything."""
    with contextlib.suppress(NotFoundError):
        await js.delete_consumer(subjects.stream, subjects.persister_durable)


@dataclass
class ServeRun:
    seconds: float
    drained_after: float | None
    apply_seconds: float
    rows_written: float
    longest_stall: float


class PersisterCrashedError(BenchmarkError):
    """``serve()`` raised: the run is retried, and the crash reported."""


async def _timed_serve(settings: PersisterSettings, expected_batches: int) -> ServeRun:
    """``serve(until_idle=True)`` from call to return; when the last batch was acked; and the
    longest time the event loop was blocked (a 10 ms ticker that measures its own lateness)."""
    applied_before = _applied_batches()
    apply_before = _metric("hangar_persister_batch_seconds_sum")
    rows_before = _rows_written()
    dead_before = _dead_letters()
    longest_stall = 0.0
    started = time.perf_counter()

    async def watch() -> float:
        # polling the persister's own counter: it has no event to wait on
        while _applied_batches() - applied_before < expected_batches:  # noqa: ASYNC110
            await asyncio.sleep(0.005)
        return time.perf_counter() - started

    async def ticker() -> None:
        nonlocal longest_stall
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.01)
            longest_stall = max(longest_stall, time.perf_counter() - before - 0.01)

    watcher = asyncio.create_task(watch())
    stalls = asyncio.create_task(ticker())
    try:
        await serve(settings, until_idle=True)
        seconds = time.perf_counter() - started
    except Exception as error:
        raise PersisterCrashedError(
            f"serve() raised {type(error).__module__}.{type(error).__name__}: {error!r} after "
            f"{time.perf_counter() - started:.1f} s (longest event-loop stall so far "
            f"{longest_stall:.2f} s)"
        ) from error
    finally:
        stalls.cancel()
        if not watcher.done():
            watcher.cancel()
        for task in (watcher, stalls):
            with contextlib.suppress(asyncio.CancelledError):
                await task
    if watcher.cancelled():
        raise BenchmarkError(
            f"serve() returned after {seconds:.2f} s with "
            f"{_applied_batches() - applied_before:.0f} of {expected_batches} batches applied"
        )
    drained = watcher.result()
    if _dead_letters() > dead_before:
        raise BenchmarkError("the persister dead-lettered messages: see the log above")
    return ServeRun(
        seconds=seconds,
        drained_after=drained,
        apply_seconds=_metric("hangar_persister_batch_seconds_sum") - apply_before,
        rows_written=_rows_written() - rows_before,
        longest_stall=longest_stall,
    )


async def _check_rows(database_url: str, contracts: int, items: int, what: str) -> None:
    found_contracts = await fetch_value(database_url, "SELECT count(*) FROM contracts")
    found_items = await fetch_value(database_url, "SELECT count(*) FROM contract_items")
    if (found_contracts, found_items) != (contracts, items):
        raise BenchmarkError(
            f"{what}: the database holds {found_contracts} contracts and {found_items} items, "
            f"expected {contracts} and {items}"
        )


def orm_objects(batch: ContractsBatch, c: ContractWithItems) -> tuple[Contract, list[ContractItem]]:
    """What the original design built per contract from ESI's answers."""
    contract = Contract(
        contract_id=c.contract_id, region_id=batch.region_id, type=c.type,
        issuer_id=c.issuer_id, issuer_corporation_id=c.issuer_corporation_id,
        date_issued=c.date_issued, date_expired=c.date_expired, price=money(c.price),
        reward=money(c.reward), collateral=money(c.collateral), buyout=money(c.buyout),
        volume=c.volume, days_to_complete=c.days_to_complete,
        start_location_id=c.start_location_id, end_location_id=c.end_location_id,
        for_corporation=c.for_corporation, title=c.title, status="outstanding",
        first_seen_at=batch.fetched_at, last_seen_at=batch.fetched_at, gone_at=None,
        source_last_modified=batch.source.last_modified,
    )  # fmt: skip
    items = [
        ContractItem(
            record_id=i.record_id,
            contract_id=c.contract_id,
            type_id=i.type_id,
            quantity=i.quantity,
            is_included=i.is_included,
            item_id=i.item_id,
            is_blueprint_copy=i.is_blueprint_copy,
            material_efficiency=i.material_efficiency,
            time_efficiency=i.time_efficiency,
            runs=i.runs,
        )
        for i in c.items
    ]
    return contract, items


# -- phases -----------------------------------------------------------------------------------


@dataclass
class Results:
    publish: Samples = field(default_factory=Samples)
    parse: Samples = field(default_factory=Samples)
    empty: Samples = field(default_factory=Samples)
    serve: Samples = field(default_factory=Samples)
    drained: Samples = field(default_factory=Samples)
    apply: Samples = field(default_factory=Samples)
    serve_stall: Samples = field(default_factory=Samples)
    reapply: Samples = field(default_factory=Samples)
    reapply_drained: Samples = field(default_factory=Samples)
    reapply_stall: Samples = field(default_factory=Samples)
    reapply_rows_written: list[float] = field(default_factory=list)
    copy: Samples = field(default_factory=Samples)
    copy2: Samples = field(default_factory=Samples)
    copy_bare: Samples = field(default_factory=Samples)
    core: Samples = field(default_factory=Samples)
    process_seconds: Samples = field(default_factory=Samples)
    process_rss: list[int] = field(default_factory=list)
    serve_rss: list[int] = field(default_factory=list)
    orm: Samples = field(default_factory=Samples)
    orm_contracts: int = 0
    orm_items: int = 0
    crashes: list[str] = field(default_factory=list)


async def publish_load(js: JetStreamContext, load: Load) -> float:
    """Publish every batch and await each acknowledgement, as the fetcher does."""
    with Stopwatch() as watch:
        for message in load.messages:
            await js.publish(
                message.subject, message.body, headers={"Nats-Msg-Id": message.message_id}
            )
    return watch.seconds


def parse_phase(load: Load, options: Options, results: Results) -> None:
    """The persister's own parsing (``parse_message``: JSON to pydantic) of the load, alone."""
    for _ in range(options.repeat):
        with Stopwatch() as watch:
            parsed = [parse_message(m.body) for m in load.messages]
        results.parse.add(watch.seconds)
        del parsed
        gc.collect()


async def persister_phases(
    urls: ServerUrls,
    databases: Databases,
    prefix: str,
    load: Load,
    options: Options,
    results: Results,
) -> str:
    """Runs (a) and (d); returns the database the last first apply filled."""
    empty_prefix = f"{prefix}e"
    empty_subjects = Subjects(empty_prefix)
    empty_database = await databases.fresh("empty")
    batches = len(load.messages)

    def settings(database_url: str, name_prefix: str) -> PersisterSettings:
        values: dict[str, Any] = {
            "database_url": database_url,
            "nats_url": urls.nats_url,
            "redis_url": urls.redis_url,
            "name_prefix": name_prefix,
            "log_level": options.log_level,
        }
        if options.fetch_batch is not None:
            values["fetch_batch"] = options.fetch_batch
        if options.fetch_timeout is not None:
            values["fetch_timeout_seconds"] = options.fetch_timeout
        if options.apply_concurrency is not None:
            values["apply_concurrency"] = options.apply_concurrency
        return PersisterSettings(**values)

    async def attempt(
        what: str, database: Callable[[int], Awaitable[str]], name_prefix: str, expected: int
    ) -> tuple[str, ServeRun]:
        """A fresh durable consumer (so that it replays the whole stream), a checkpoint, then
        ``serve()``; a crashed run is reported and done again from scratch."""
        for number_ in range(1, options.attempts + 1):
            url = await database(number_)
            await _delete_consumer(js, Subjects(name_prefix))
            await checkpoint(url)
            try:
                return url, await _timed_serve(settings(url, name_prefix), expected)
            except PersisterCrashedError as error:
                results.crashes.append(f"{what}, attempt {number_}: {error}")
                log.warning("persister crashed", extra={"what": what, "error": str(error)})
        raise BenchmarkError(f"{what}: serve() crashed {options.attempts} times in a row")

    async def empty_db(_: int) -> str:
        return empty_database

    client = await nats.connect(urls.nats_url)
    filled = empty_database
    try:
        js = client.jetstream()
        await ensure_streams(js, empty_subjects)
        for repeat in range(options.repeat):
            # the idle-detection overhead: the same call with nothing to apply
            _, empty = await attempt("empty stream", empty_db, empty_prefix, 0)
            results.empty.add(empty.seconds)

            async def fresh_db(number_: int, repeat: int = repeat) -> str:
                return await databases.fresh(f"serve{repeat}_{number_}")

            peak_reset = reset_own_peak_rss()
            database, first = await attempt("first apply", fresh_db, prefix, batches)
            filled = database
            if peak_reset:
                results.serve_rss.append(own_peak_rss())
            await _check_rows(database, load.contracts, load.items, "persister")
            results.serve.add(first.seconds)
            results.drained.add(first.drained_after or 0.0)
            results.apply.add(first.apply_seconds)
            results.serve_stall.add(first.longest_stall)

            async def same_db(_: int, database: str = database) -> str:
                return database

            _, again = await attempt("re-apply", same_db, prefix, batches)
            await _check_rows(database, load.contracts, load.items, "re-apply")
            results.reapply.add(again.seconds)
            results.reapply_drained.add(again.drained_after or 0.0)
            results.reapply_stall.add(again.longest_stall)
            results.reapply_rows_written.append(again.rows_written)
            log.info(
                "persister repeat done",
                extra={"repeat": repeat, "serve": first.seconds, "reapply": again.seconds},
            )
    finally:
        await client.close()
        if not options.keep:
            await remove_streams(urls.nats_url, empty_prefix)
    return filled


async def copy_phase(
    databases: Databases, filled: str, load: Load, options: Options, results: Results
) -> None:
    """Raw COPY into the fully indexed schema, on one connection and on two, of the rows the
    persister left in ``filled`` (derived fields and search text included); and, on one
    connection, of the rows without their derived fields."""
    rows = await stored_rows(filled)
    bare = copy_rows(load.batches())
    for repeat in range(options.repeat):
        for label, copied, connections, samples in (
            ("copy1", rows, 1, results.copy),
            ("copy2", rows, 2, results.copy2),
            ("bare1", bare, 1, results.copy_bare),
        ):
            database = await databases.fresh(f"{label}_{repeat}")
            await checkpoint(database)
            samples.add(await copy_ceiling(database, copied, connections))
            await _check_rows(database, load.contracts, load.items, label)


async def core_phase(databases: Databases, load: Load, options: Options, results: Results) -> None:
    """SQLAlchemy Core ``executemany`` of every page (an upsert of its contracts, its items
    ``ON CONFLICT DO NOTHING``), one transaction per 1000-contract page."""
    contract_upsert = pg_insert(Contract)
    contract_upsert = contract_upsert.on_conflict_do_update(
        index_elements=["contract_id"],
        set_={name: contract_upsert.excluded[name] for name in CONTRACT_COLUMNS[1:]},
    )
    item_insert = pg_insert(ContractItem).on_conflict_do_nothing(index_elements=["record_id"])
    pages = []
    for batch in load.batches():
        rows = copy_rows([batch])
        pages.append(
            (
                [dict(zip(CONTRACT_COLUMNS, row, strict=True)) for row in rows.contracts],
                [dict(zip(ITEM_COLUMNS, row, strict=True)) for row in rows.items],
            )
        )
    for repeat in range(options.repeat):
        database = await databases.fresh(f"core{repeat}")
        await checkpoint(database)
        engine = create_async_engine(sqlalchemy_url(database), pool_size=1)
        try:
            async with engine.connect() as connection:
                with Stopwatch() as watch:
                    for contracts, items in pages:
                        async with connection.begin():
                            await connection.execute(contract_upsert, contracts)
                            if items:
                                await connection.execute(item_insert, items)
        finally:
            await engine.dispose()
        await _check_rows(database, load.contracts, load.items, "Core executemany")
        results.core.add(watch.seconds)


async def memory_phase(
    urls: ServerUrls, databases: Databases, prefix: str, load: Load, options: Options,
    results: Results,
) -> None:  # fmt: skip
    """``hangar-bay persister --until-idle`` in a process of its own on a fresh database and a
    fresh consumer: its peak RSS (and wall time, startup included)."""
    subjects = Subjects(prefix)
    client = await nats.connect(urls.nats_url)
    try:
        js = client.jetstream()
        for repeat in range(options.repeat):
            database = await databases.fresh(f"process{repeat}")
            await _delete_consumer(js, subjects)
            await checkpoint(database)
            environment = {
                **os.environ,
                "HANGAR_DATABASE_URL": database,
                "HANGAR_NATS_URL": urls.nats_url,
                "HANGAR_REDIS_URL": urls.redis_url,
                "HANGAR_NAME_PREFIX": prefix,
                "HANGAR_LOG_LEVEL": "WARNING",
                "HANGAR_LOG_JSON": "true",
            }
            run = await run_child("services.cli", ["persister", "--until-idle"], environment)
            if run.returncode != 0:
                raise BenchmarkError(
                    f"hangar-bay persister exited with {run.returncode}: {run.stderr[-2000:]}"
                )
            await _check_rows(database, load.contracts, load.items, "persister process")
            results.process_seconds.add(run.seconds)
            results.process_rss.append(run.peak_rss)
    finally:
        await client.close()


async def orm_phase(databases: Databases, load: Load, options: Options, results: Results) -> None:
    subset: list[tuple[ContractsBatch, ContractWithItems]] = []
    for batch in load.batches():
        subset.extend((batch, c) for c in batch.contracts)
        if len(subset) >= options.orm_contracts:
            break
    subset = subset[: options.orm_contracts]
    results.orm_contracts = len(subset)
    results.orm_items = sum(len(c.items) for _, c in subset)
    for repeat in range(options.repeat):
        database = await databases.fresh(f"orm{repeat}")
        await checkpoint(database)
        # a plain engine (no pre-ping): the baseline gets its best shot
        engine = create_async_engine(sqlalchemy_url(database), pool_size=1)
        sessions = async_sessionmaker(engine, expire_on_commit=False)
        try:
            with Stopwatch() as watch:
                for batch, c in subset:
                    contract, items = orm_objects(batch, c)
                    async with sessions() as session, session.begin():
                        await session.merge(contract)
                        for item in items:
                            await session.merge(item)
        finally:
            await engine.dispose()
        await _check_rows(database, results.orm_contracts, results.orm_items, "ORM")
        results.orm.add(watch.seconds)


# -- report -----------------------------------------------------------------------------------


async def server_facts(urls: ServerUrls) -> list[str]:
    connection = await asyncpg.connect(asyncpg_dsn(urls.database_url))
    try:
        version = await connection.fetchval("SHOW server_version")
        fsync = await connection.fetchval("SHOW fsync")
        commit = await connection.fetchval("SHOW synchronous_commit")
    finally:
        await connection.close()
    client = await nats.connect(urls.nats_url)
    try:
        nats_version = client.connected_server_version
        max_payload = client.max_payload
    finally:
        await client.close()
    return [
        f"PostgreSQL {version} (fsync={fsync}, synchronous_commit={commit}); "
        f"nats-server {nats_version} (max_payload {max_payload:,} B)"
    ]


def report(load: Load, options: Options, results: Results, facts: list[str]) -> None:
    n, rows = load.contracts, load.rows
    sizes = [len(m.body) for m in load.messages]
    note(
        f"\n[bold]Persister benchmark[/bold]: {n:,} contracts + {load.items:,} items "
        f"= {rows:,} rows ({load.items / n:.2f} items per contract; "
        + ", ".join(f"{kind} {count / n:.1%}" for kind, count in sorted(load.by_type.items()))
        + f"); {len(load.messages)} messages of up to {PAGE_SIZE} contracts, "
        f"{min(sizes) / 1e6:.2f}-{max(sizes) / 1e6:.2f} MB each; medians of "
        f"{options.repeat} run(s)."
    )
    for fact in facts:
        note(fact)
    empty = results.empty.median
    serve_raw = results.serve.median
    serve_net = serve_raw - empty
    reapply_raw = results.reapply.median
    reapply_net = reapply_raw - empty
    orm_rate = rate(results.orm_contracts, results.orm.median)
    copy_rate = rate(n, results.copy.median)
    copy2_rate = rate(n, results.copy2.median)
    core_rate = rate(n, results.core.median)
    net_rate = rate(n, serve_net)
    raw_rate = rate(n, serve_raw)

    def line(label: str, samples: Samples | None, seconds: float, c: int, r: int) -> list[str]:
        spread = samples.spread() if samples is not None else ""
        return [
            label, f"{seconds:.3f}", spread, number(rate(c, seconds)), number(rate(r, seconds))
        ]  # fmt: skip

    table = [
        line("publish to JetStream (await each ack)", results.publish, results.publish.median,
             n, rows),
        line("parse_message of the load alone (JSON -> pydantic)", results.parse,
             results.parse.median, n, rows),
        line("(a) persister serve(): raw", results.serve, serve_raw, n, rows),
        ["    serve() on an empty stream (idle overhead)", f"{empty:.3f}",
         results.empty.spread(), "", ""],
        line("(a) persister: net (raw - empty)", None, serve_net, n, rows),
        line("(a) persister: call to last ack", results.drained, results.drained.median, n, rows),
        *_apply_lines(options, results, line, n, rows),
        line("(b) raw COPY, 1 connection, 1 tx (the ceiling)", results.copy,
             results.copy.median, n, rows),
        line("(b2) raw COPY, 2 connections, 1 tx each", results.copy2, results.copy2.median,
             n, rows),
        line("(b') (b) without the derived fields (the ceiling before 2026-12-03)",
             results.copy_bare, results.copy_bare.median, n, rows),
        line("(e) SQLAlchemy Core executemany, upsert, 1 tx/page", results.core,
             results.core.median, n, rows),
        line(f"(c) ORM merge, 1 tx/contract ({results.orm_contracts:,} contracts)", results.orm,
             results.orm.median, results.orm_contracts, results.orm_contracts + results.orm_items),
        ["    ORM extrapolated to the whole load", f"{rate(n, orm_rate):.1f}", "",
         number(orm_rate), ""],
        line("(d) re-apply same stream: raw", results.reapply, reapply_raw, n, rows),
        line("(d) re-apply: net (raw - empty)", None, reapply_net, n, rows),
        line("(d) re-apply: call to last ack", results.reapply_drained,
             results.reapply_drained.median, n, rows),
    ]  # fmt: skip
    print_table(
        "Throughput (c/s = contracts per second with their items; rows = contracts + items)",
        ["measurement", "seconds", "min-max", "c/s", "rows/s"],
        table,
    )
    ratios = [
        ["persister net / raw COPY", f"{net_rate / copy_rate:.2f}", ">= 0.5",
         _verdict(net_rate / copy_rate >= 0.5)],
        ["persister raw / raw COPY", f"{raw_rate / copy_rate:.2f}", "(>= 0.5)",
         _verdict(raw_rate / copy_rate >= 0.5)],
        ["persister net / ORM merge", f"{net_rate / orm_rate:.0f}x", ">= 50x",
         _verdict(net_rate / orm_rate >= 50)],
        ["persister raw / ORM merge", f"{raw_rate / orm_rate:.0f}x", "(>= 50x)",
         _verdict(raw_rate / orm_rate >= 50)],
        ["persister net / raw COPY on 2 connections", f"{net_rate / copy2_rate:.2f}", "", ""],
        ["persister net / raw COPY without derived fields",
         f"{net_rate / rate(n, results.copy_bare.median):.2f}", "", ""],
        ["persister net / Core executemany", f"{net_rate / core_rate:.2f}x", "", ""],
        ["persister raw / Core executemany", f"{raw_rate / core_rate:.2f}x", "", ""],
        ["raw COPY / ORM merge", f"{copy_rate / orm_rate:.0f}x", "", ""],
        ["re-apply net / first apply net (speed-up)", f"{serve_net / reapply_net:.2f}", "", ""],
    ]  # fmt: skip
    print_table("Ratios (baselines measured in this run)", ["ratio", "value", "goal", ""], ratios)
    written = ", ".join(f"{value:.0f}" for value in results.reapply_rows_written)
    note(
        f"Re-apply rows written per run: {written} (0: the no-op path changed nothing). "
        "'net' subtracts the median empty-stream serve() (startup, two idle checks 0.5 s "
        "apart, shutdown); after a real drain serve() waits 0.5-1.0 s for its two idle checks, "
        "so 'call to last ack' is the tightest figure (it still includes startup)."
    )
    note(
        f"Longest event-loop stall inside serve(): first apply {results.serve_stall.median:.2f} s"
        f" (max {max(results.serve_stall.values):.2f}), re-apply "
        f"{results.reapply_stall.median:.2f} s (max {max(results.reapply_stall.values):.2f})."
    )
    note(
        "Peak RSS of `hangar-bay persister --until-idle` applying the load in a process of its "
        "own (fresh database and consumer): "
        + ", ".join(megabytes(size) for size in results.process_rss)
        + "; its wall time (startup and idle checks included): "
        + ", ".join(f"{seconds:.2f} s" for seconds in results.process_seconds.values)
        + "."
    )
    if results.serve_rss:
        note(
            "Peak RSS of this benchmark process during the in-process serve() (it also holds the "
            "load's message bodies, "
            f"{megabytes(sum(len(m.body) for m in load.messages))}): "
            + ", ".join(megabytes(size) for size in results.serve_rss)
            + "."
        )
    if results.crashes:
        note(f"[red]serve() crashed {len(results.crashes)} time(s)[/red] (runs redone):")
        for crash in results.crashes:
            note(f"  - {crash}")
    else:
        note("serve() never crashed in this run.")


def _apply_lines(
    options: Options,
    results: Results,
    line: Callable[[str, Samples | None, float, int, int], list[str]],
    n: int,
    rows: int,
) -> list[list[str]]:
    """Where the time to the last ack went; with concurrent fetches the apply times overlap,
    so their sum says how busy the applying was, not what remains."""
    concurrency = (
        options.apply_concurrency
        or PersisterSettings.model_fields["apply_concurrency"].get_default()
    )
    if concurrency == 1:
        return [
            line("    of which apply + commit (batch_seconds)", results.apply,
                 results.apply.median, n, rows),
            ["    of which the rest (startup, fetch waits, acks)",
             f"{results.drained.median - results.apply.median:.3f}", "", "", ""],
        ]  # fmt: skip
    return [
        line(f"    apply + commit summed over {concurrency} concurrent fetches", results.apply,
             results.apply.median, n, rows),
    ]  # fmt: skip


def _verdict(met: bool) -> str:
    return "[green]met[/green]" if met else "[red]NOT met[/red]"


# -- command line -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    contracts: int
    orm_contracts: int
    repeat: int
    fetch_batch: int | None
    fetch_timeout: float | None
    apply_concurrency: int | None
    attempts: int
    seed: int
    keep: bool
    log_level: str


async def bench(urls: ServerUrls, options: Options) -> None:
    prefix = unique_prefix("p")
    subjects = Subjects(prefix)
    databases = Databases(urls.database_url, prefix)
    results = Results()
    facts = await server_facts(urls)
    facts.append(f"at start: {load_average()}")
    async with cleanup_after(urls, prefix, databases, keep=options.keep):
        load = make_load(options.contracts, options.seed, subjects)
        gc.collect()
        client = await nats.connect(urls.nats_url)
        try:
            biggest = max(len(m.body) for m in load.messages)
            if biggest > client.max_payload:
                raise BenchmarkError(
                    f"a batch is {biggest:,} B but the NATS server's max_payload is "
                    f"{client.max_payload:,} B: raise it (the embedded server uses 8 MB)"
                )
            js = client.jetstream()
            await ensure_streams(js, subjects)
            results.publish.add(await publish_load(js, load))
        finally:
            await client.close()
        log.info("phase starts", extra={"phase": "parse"})
        parse_phase(load, options, results)
        log.info("phase starts", extra={"phase": "persister"})
        filled = await persister_phases(urls, databases, prefix, load, options, results)
        gc.collect()
        log.info("phase starts", extra={"phase": "copy"})
        await copy_phase(databases, filled, load, options, results)
        gc.collect()
        log.info("phase starts", extra={"phase": "core"})
        await core_phase(databases, load, options, results)
        gc.collect()
        log.info("phase starts", extra={"phase": "persister process"})
        await memory_phase(urls, databases, prefix, load, options, results)
        log.info("phase starts", extra={"phase": "orm"})
        await orm_phase(databases, load, options, results)
        facts.append(f"at end: {load_average()}")
        report(load, options, results, facts)
        if options.keep:
            note(f"kept: databases {prefix.lower()}_*, stream {subjects.stream}")


app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@app.command()
def main(
    contracts: Annotated[
        int, typer.Option(min=1, help="Contracts in the load (The Forge: about 35,000).")
    ] = 35_000,
    orm_contracts: Annotated[
        int, typer.Option(min=1, help="Contracts the (slow) ORM baseline writes.")
    ] = 2_000,
    repeat: Annotated[int, typer.Option(min=1, help="Runs of each phase (medians).")] = 3,
    fetch_batch: Annotated[
        int | None,
        typer.Option(min=1, max=1000, help="Persister fetch size (default: its own default)."),
    ] = None,
    fetch_timeout: Annotated[
        float | None,
        typer.Option(
            min=0.001, help="Persister fetch timeout in seconds (default: its own default)."
        ),
    ] = None,
    apply_concurrency: Annotated[
        int | None,
        typer.Option(min=1, max=16, help="Fetches applied at once (default: its own default)."),
    ] = None,
    attempts: Annotated[
        int, typer.Option(min=1, help="Tries of a serve() run that crashes (each reported).")
    ] = 3,
    seed: Annotated[int, typer.Option(help="Seed of the generated load.")] = 7,
    work_dir: Annotated[
        Path | None,
        typer.Option(help="Where embedded servers keep their data (default: a temporary dir)."),
    ] = None,
    keep: Annotated[
        bool, typer.Option("--keep", help="Keep the databases and streams afterwards.")
    ] = False,
    log_level: Annotated[str, typer.Option(help="Log level of the services.")] = "WARNING",
) -> None:
    """Persister throughput vs raw COPY and the per-row ORM merge, measured in one run."""
    configure_logging(log_level, json=False)
    quiet_faststream(log_level)
    options = Options(
        contracts=contracts,
        orm_contracts=min(orm_contracts, contracts),
        repeat=repeat,
        fetch_batch=fetch_batch,
        fetch_timeout=fetch_timeout,
        apply_concurrency=apply_concurrency,
        attempts=attempts,
        seed=seed,
        keep=keep,
        log_level=log_level,
    )
    with benchmark_servers(work_dir) as urls:
        try:
            asyncio.run(bench(urls, options))
        except BenchmarkError as error:
            typer.echo(f"benchmark failed: {error}", err=True)
            raise typer.Exit(1) from None


if __name__ == "__main__":
    app()
