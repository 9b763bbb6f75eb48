"""Rebuild benchmark (replay): how fast ``hangar-bay replay`` rebuilds a Forge-sized database
from the stream, against its ceiling measured the same way in the same run; how much memory
the replay's process takes, and whether it grows with the stream's length; and how many bytes
the stream holds per live contract after many simulated cycles.

    uv run python -m benchmarks.bench_replay [--contracts 35000] [--cycles 48]
    uv run python -m benchmarks.bench_replay --repeat 1 --cycles 0 --memory-sizes 100000,1000000

The replay runs in a process of its own (``benchmarks.replay_process``: the replay into a
fresh database migrated to head, as ``hangar-bay replay`` does), so that its peak RSS (its own
``VmHWM`` at exit) is its own. It sets the read-side indexes and the foreign keys aside,
applies on two connections and builds what it set aside at the end; the ceiling does the same
without NATS, JSON or the apply code: the same set-aside code, raw COPY on two connections of
the very rows the replay left in its database (read back after each replay: every column, the
derived fields and the search text the trigram index is built on included), the same build.
One-connection raw COPY of those rows into the fully indexed schema is printed too, and of the
rows without their derived fields, as the ceiling was measured before it wrote them (for
comparison with earlier figures).

``--memory-sizes`` replays streams of those many contracts (one each, published page by page,
never held in memory here) and compares the replay's peak RSS: bounded by its fetch size, it
must not grow with the stream's length.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import nats
import redis.asyncio as aioredis

from benchmarks.support import (
    Databases,
    Samples,
    benchmark_servers,
    checkpoint,
    cleanup_after,
    fetch_value,
    load_average,
    megabytes,
    note,
    number,
    print_table,
    rate,
    remove_streams,
    run_child,
    unique_prefix,
)
from benchmarks.workload import (
    CopyRows,
    copy_ceiling,
    copy_ceiling_set_aside,
    copy_rows,
    iter_messages,
    stored_rows,
)
from common.messages import ContractsBatch
from common.stream import ensure_streams
from common.subjects import Subjects
from services.fetcher.main import fetcher_resources, run_once
from services.fetcher.settings import FetcherSettings
from services.stack.servers import ServerUrls
from tests.support.sim import SIM_BASE_URL, Sim

REGION = 10000002


class BenchmarkError(RuntimeError):
    """A phase did not produce what it should have: its figures would be meaningless."""


@dataclass(frozen=True)
class ReplayRun:
    contracts: int
    items: int
    seconds: float
    apply_seconds: float
    index_seconds: float
    set_aside: int
    process_seconds: float
    peak_rss: int


@dataclass
class RebuildResults:
    contracts: int = 0
    items: int = 0
    replay: Samples = field(default_factory=Samples)
    replay_apply: Samples = field(default_factory=Samples)
    replay_index: Samples = field(default_factory=Samples)
    replay_rss: list[int] = field(default_factory=list)
    set_aside_total: Samples = field(default_factory=Samples)
    set_aside_copy: Samples = field(default_factory=Samples)
    set_aside_build: Samples = field(default_factory=Samples)
    set_aside_names: int = 0
    copy_indexed: Samples = field(default_factory=Samples)
    copy_indexed_bare: Samples = field(default_factory=Samples)


async def publish_stream(
    urls: ServerUrls, subjects: Subjects, contracts: int, seed: int, *, keep_batches: bool
) -> tuple[int, int, list[ContractsBatch]]:
    """Publish ``contracts`` generated contracts page by page; returns the contracts, the items
    and (``keep_batches``) the batches."""
    total_contracts = total_items = 0
    batches: list[ContractsBatch] = []
    client = await nats.connect(urls.nats_url)
    try:
        js = client.jetstream()
        await ensure_streams(js, subjects)
        for message in iter_messages(contracts, seed, subjects):
            await js.publish(
                message.subject, message.body, headers={"Nats-Msg-Id": message.message_id}
            )
            total_contracts += message.contracts
            total_items += message.items
            if keep_batches:
                batches.append(ContractsBatch.model_validate_json(message.body))
    finally:
        await client.close()
    return total_contracts, total_items, batches


async def replay_process(urls: ServerUrls, prefix: str, target: str) -> ReplayRun:
    """The replay into ``target`` in a process of its own."""
    environment = {
        **os.environ,
        "HANGAR_DATABASE_URL": target,
        "HANGAR_NATS_URL": urls.nats_url,
        "HANGAR_REDIS_URL": urls.redis_url,
        "HANGAR_NAME_PREFIX": prefix,
        "HANGAR_LOG_LEVEL": "WARNING",
    }
    run = await run_child("benchmarks.replay_process", [target], environment)
    if run.returncode != 0:
        raise BenchmarkError(f"the replay exited with {run.returncode}: {run.stderr[-2000:]}")
    report = json.loads(run.stdout.strip().splitlines()[-1])
    if report["rejected"]:
        raise BenchmarkError(f"the replay rejected {report['rejected']} message(s)")
    items = await fetch_value(target, "SELECT count(*) FROM contract_items")
    return ReplayRun(
        contracts=report["contracts"],
        items=items,
        seconds=report["seconds"],
        apply_seconds=report["apply_seconds"],
        index_seconds=report["index_seconds"],
        set_aside=report["set_aside"],
        process_seconds=run.seconds,
        peak_rss=run.peak_rss,
    )


async def rebuild_phase(urls: ServerUrls, contracts: int, repeat: int) -> RebuildResults:
    prefix = unique_prefix("replay")
    subjects = Subjects(prefix)
    databases = Databases(urls.database_url, prefix)
    results = RebuildResults()
    async with cleanup_after(urls, prefix, databases, keep=False):
        results.contracts, results.items, batches = await publish_stream(
            urls, subjects, contracts, seed=5, keep_batches=True
        )
        bare_rows: CopyRows = copy_rows(batches)
        del batches
        for round_ in range(repeat):
            target = await databases.fresh(f"replay{round_}")
            await checkpoint(target)
            run = await replay_process(urls, prefix, target)
            if (run.contracts, run.items) != (results.contracts, results.items):
                raise BenchmarkError(f"replay: {run} for {results.contracts} contracts")
            results.replay.add(run.seconds)
            results.replay_apply.add(run.apply_seconds)
            results.replay_index.add(run.index_seconds)
            results.replay_rss.append(run.peak_rss)
            rows = await stored_rows(target)

            ceiling = await databases.fresh(f"setaside{round_}")
            await checkpoint(ceiling)
            measured = await copy_ceiling_set_aside(ceiling, rows, connections=2)
            if len(measured.set_aside) != run.set_aside:
                raise BenchmarkError(
                    f"the ceiling set {len(measured.set_aside)} aside, the replay {run.set_aside}"
                )
            results.set_aside_total.add(measured.seconds)
            results.set_aside_copy.add(measured.copy_seconds)
            results.set_aside_build.add(measured.build_seconds)
            results.set_aside_names = len(measured.set_aside)

            indexed = await databases.fresh(f"copy{round_}")
            await checkpoint(indexed)
            results.copy_indexed.add(await copy_ceiling(indexed, rows, connections=1))

            bare = await databases.fresh(f"bare{round_}")
            await checkpoint(bare)
            results.copy_indexed_bare.add(await copy_ceiling(bare, bare_rows, connections=1))
    return results


async def memory_phase(urls: ServerUrls, sizes: list[int]) -> list[ReplayRun]:
    """One stream and one replay per size, each removed before the next."""
    runs = []
    for size in sizes:
        prefix = unique_prefix("mem")
        databases = Databases(urls.database_url, prefix)
        async with cleanup_after(urls, prefix, databases, keep=False):
            contracts, items, _ = await publish_stream(
                urls, Subjects(prefix), size, seed=11, keep_batches=False
            )
            target = await databases.fresh("replay")
            await checkpoint(target)
            run = await replay_process(urls, prefix, target)
            if (run.contracts, run.items) != (contracts, items):
                raise BenchmarkError(f"replay: {run} for {contracts} contracts")
            runs.append(run)
            note(
                f"replay of {contracts:,} contracts: peak RSS {megabytes(run.peak_rss)}, "
                f"{run.seconds:.1f} s ({rate(contracts, run.seconds):,.0f} contracts/s)"
            )
        await remove_streams(urls.nats_url, prefix)
    return runs


async def stream_size_phase(
    urls: ServerUrls, contracts: int, churn: int, cycles: int
) -> tuple[int, int, int, int]:
    """Run the real fetcher against the simulator for ``cycles`` generations; returns the
    stream's bytes and messages, the live contracts and the contracts ever published."""
    prefix = unique_prefix("size")
    sim = Sim.build({REGION: contracts}, churn_per_generation=churn)
    settings = FetcherSettings(
        database_url=urls.database_url, nats_url=urls.nats_url, redis_url=urls.redis_url,
        name_prefix=prefix, esi_base_url=SIM_BASE_URL, regions=[REGION],
    )  # fmt: skip
    async with cleanup_after(urls, prefix, None, keep=False):
        async with fetcher_resources(settings, sim.transport) as fetcher:
            for cycle in range(cycles):
                if cycle:
                    sim.world.advance()
                await run_once(fetcher)
        client = await nats.connect(urls.nats_url)
        try:
            info = await client.jetstream().stream_info(Subjects(prefix).stream)
        finally:
            await client.close()
        live = len(sim.world.contracts(REGION))
        redis = aioredis.from_url(urls.redis_url)
        try:
            published = int(await redis.scard(f"{prefix}:known"))
        finally:
            await redis.aclose()
        return int(info.state.bytes), int(info.state.messages), live, published


async def main(options: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.WARNING)
    with benchmark_servers(options.work_dir) as urls:
        note(load_average())
        if options.contracts:
            rebuild_report(await rebuild_phase(urls, options.contracts, options.repeat), options)
        if options.memory_sizes:
            memory_report(await memory_phase(urls, options.memory_sizes))
        if options.cycles:
            size, messages, live, published = await stream_size_phase(
                urls, options.cycle_contracts, options.churn, options.cycles
            )
            print_table(
                f"Stream after {options.cycles} simulated cycles "
                f"({options.cycle_contracts:,} contracts, churn {options.churn}/cycle)",
                ["bytes", "messages", "live contracts", "ever published", "bytes per live"],
                [
                    [
                        number(size),
                        number(messages),
                        number(live),
                        number(published),
                        number(size / live),
                    ]
                ],
            )
        note(load_average())


def rebuild_report(results: RebuildResults, options: argparse.Namespace) -> None:
    contracts, rows = results.contracts, results.contracts + results.items
    ceiling = results.set_aside_total.median

    def row(path: str, samples: Samples) -> list[str]:
        seconds = samples.median
        return [
            path,
            number(seconds, 3),
            samples.spread(),
            number(rate(contracts, seconds)),
            number(rate(rows, seconds)),
            number(ceiling / seconds, 2),
        ]

    print_table(
        f"Rebuild of {contracts:,} contracts ({results.items:,} items), medians of "
        f"{options.repeat}; {results.set_aside_names} indexes and foreign keys set aside",
        ["path", "seconds", "min-max", "contracts/s", "rows/s", "vs ceiling"],
        [
            row("ceiling: set aside, raw COPY on 2 connections, build (end to end)",
                results.set_aside_total),
            row("  of which raw COPY on 2 connections", results.set_aside_copy),
            row("  of which building the set-aside indexes and keys", results.set_aside_build),
            row("replay: end to end (NATS, parsing, apply, acks, build)", results.replay),
            row("  of which applying (build included)", results.replay_apply),
            row("  of which building the set-aside indexes and keys", results.replay_index),
            row("for comparison: raw COPY, 1 connection, fully indexed schema",
                results.copy_indexed),
            row("  the same without the derived fields (the ceiling's rows before 2026-12-03)",
                results.copy_indexed_bare),
        ],
    )  # fmt: skip
    note(
        f"replay end to end / ceiling end to end: "
        f"{results.replay.median / ceiling:.2f}x the time "
        f"(ceiling / replay = {ceiling / results.replay.median:.2f})"
    )
    note(
        "peak RSS of the replay's process: "
        + ", ".join(megabytes(size) for size in results.replay_rss)
    )
    note(
        f"goal: apply time under 2 s for a 35k-contract region: {results.replay_apply.median:.2f} s"
    )


def memory_report(runs: list[ReplayRun]) -> None:
    print_table(
        "Replay's peak RSS by stream length (one process per stream)",
        ["contracts", "items", "peak RSS", "seconds", "contracts/s", "RSS vs first"],
        [
            [
                number(run.contracts),
                number(run.items),
                megabytes(run.peak_rss),
                number(run.seconds, 1),
                number(rate(run.contracts, run.seconds)),
                number(run.peak_rss / runs[0].peak_rss, 2),
            ]
            for run in runs
        ],
    )
    largest = max(runs, key=lambda run: run.contracts)
    verdict = "met" if largest.peak_rss < 300 * 2**20 else "NOT met"
    note(
        f"goal: under 300 MB at {largest.contracts:,} contracts: "
        f"{megabytes(largest.peak_rss)} ({verdict})"
    )


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--contracts", type=int, default=35_000, help="contracts in the rebuilt stream (0: skip)"
    )
    parser.add_argument(
        "--memory-sizes",
        type=lambda text: [int(part) for part in text.split(",") if part],
        default=[],
        help="stream lengths whose replay's peak RSS is compared, e.g. 100000,1000000 "
        "(default: none; a million contracts takes minutes)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="rebuilds (medians are printed)")
    parser.add_argument(
        "--cycles", type=int, default=48, help="simulated cycles for the size figure (0: skip)"
    )
    parser.add_argument(
        "--cycle-contracts", type=int, default=5_000, help="contracts in the simulated region"
    )
    parser.add_argument(
        "--churn", type=int, default=16, help="contracts replaced per cycle (Forge: ~115 of 35k)"
    )
    parser.add_argument(
        "--work-dir", type=Path, default=None, help="keep embedded servers' data here"
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse()))
