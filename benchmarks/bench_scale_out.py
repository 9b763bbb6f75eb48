"""Persister scale-out: one durable consumer, 1, 2 and 3 ``hangar-bay persister`` processes.

N persister processes are started on a fresh stream and database and wait on the durable
consumer; then the same Forge-sized first load (1000-contract batches) is published. Throughput
is contracts per second from the first publish until the database holds every contract and
item; the ratio is against the first count measured in the same run. Peak RSS of each
persister process is printed.

    uv run python -m benchmarks.bench_scale_out [--contracts 35000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import nats
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from benchmarks.support import (
    Databases,
    Samples,
    Stopwatch,
    benchmark_servers,
    cleanup_after,
    load_average,
    note,
    number,
    peak_rss,
    print_table,
    rate,
    unique_prefix,
)
from benchmarks.workload import make_load
from common.db import asyncpg_dsn
from common.stream import ensure_streams
from common.subjects import Subjects
from services.stack.servers import ServerUrls, free_port, wait_for_port

CLI = [sys.executable, "-m", "services.cli"]


@dataclass
class Persister:
    process: subprocess.Popen[bytes]
    metrics_port: int

    def applied_batches(self) -> float:
        """Contracts batches this process applied (its own Prometheus counter)."""
        text = httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=10).text
        for line in text.splitlines():
            if line.startswith('hangar_persister_messages_applied_total{kind="contracts"}'):
                return float(line.split()[-1])
        return 0.0


def _start(urls: ServerUrls, prefix: str, database_url: str) -> Persister:
    metrics_port = free_port()
    env = {
        **os.environ,
        "HANGAR_DATABASE_URL": database_url,
        "HANGAR_NATS_URL": urls.nats_url,
        "HANGAR_REDIS_URL": urls.redis_url,
        "HANGAR_NAME_PREFIX": prefix,
        "HANGAR_LOG_LEVEL": "WARNING",
        "HANGAR_LOG_JSON": "true",
        "HANGAR_METRICS_PORT": str(metrics_port),
    }
    process = subprocess.Popen([*CLI, "persister"], env=env, stdout=subprocess.DEVNULL)
    wait_for_port(metrics_port, process, "persister", timeout=60)
    return Persister(process, metrics_port)


def _stop(persisters: list[Persister]) -> list[int]:
    """SIGTERM each persister; their peak RSS (``VmHWM``, read just before) in bytes."""
    peaks = [peak_rss(persister.process.pid) or 0 for persister in persisters]
    for persister in persisters:
        persister.process.send_signal(signal.SIGTERM)
    for persister in persisters:
        code = persister.process.wait(timeout=120)
        if code != 0:
            raise RuntimeError(f"a persister exited with {code}")
    return peaks


async def _wait_for_consumers(js: JetStreamContext, subjects: Subjects, count: int) -> None:
    """Until ``count`` persisters wait on the durable consumer with a pull request each."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            info = await js.consumer_info(subjects.stream, subjects.persister_durable)
            if (info.num_waiting or 0) >= count:
                return
        except NotFoundError:
            pass
        await asyncio.sleep(0.05)
    raise TimeoutError(f"{count} persisters did not start pulling within 120 s")


async def _wait_for_rows(database_url: str, contracts: int, items: int) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            stored = await connection.fetchrow(
                "SELECT (SELECT count(*) FROM contracts), (SELECT count(*) FROM contract_items)"
            )
            if stored is not None and tuple(stored) == (contracts, items):
                return
            await asyncio.sleep(0.02)
    finally:
        await connection.close()
    raise TimeoutError("the persisters did not store the whole load within 600 s")


@dataclass
class Figures:
    seconds: Samples = field(default_factory=Samples)
    peak_rss: list[int] = field(default_factory=list)
    #: Share of the batches applied by the busiest persister, per run.
    busiest_share: list[float] = field(default_factory=list)


async def scale_phase(
    urls: ServerUrls, contracts: int, counts: list[int], repeat: int
) -> dict[int, Figures]:
    """Persisters started and pulling first; then the load is published; the clock runs from
    the first publish to the moment the database holds every contract and item."""
    figures = {n: Figures() for n in counts}
    for round_ in range(repeat):
        for persisters in counts:
            prefix = unique_prefix(f"scale{persisters}")
            subjects = Subjects(prefix)
            load = make_load(contracts, seed=7, subjects=subjects)
            databases = Databases(urls.database_url, prefix)
            async with cleanup_after(urls, prefix, databases, keep=False):
                target = await databases.fresh(f"r{round_}")
                client = await nats.connect(urls.nats_url)
                processes: list[Persister] = []
                try:
                    js = client.jetstream()
                    await ensure_streams(js, subjects)
                    processes = [_start(urls, prefix, target) for _ in range(persisters)]
                    await _wait_for_consumers(js, subjects, persisters)
                    with Stopwatch() as watch:
                        for message in load.messages:
                            await js.publish(
                                message.subject,
                                message.body,
                                headers={"Nats-Msg-Id": message.message_id},
                            )
                        await _wait_for_rows(target, load.contracts, load.items)
                    applied = [await asyncio.to_thread(p.applied_batches) for p in processes]
                finally:
                    await client.close()
                    peaks = await asyncio.to_thread(_stop, processes)
                figure = figures[persisters]
                figure.seconds.add(watch.seconds)
                figure.peak_rss.extend(peaks)
                figure.busiest_share.append(max(applied) / sum(applied))
    return figures


async def main(options: argparse.Namespace) -> None:
    with benchmark_servers(options.work_dir) as urls:
        note(load_average())
        note(f"cores: {os.cpu_count()}")
        figures = await scale_phase(urls, options.contracts, options.persisters, options.repeat)
        baseline = figures[options.persisters[0]].seconds.median
        rows = []
        for persisters, figure in figures.items():
            median = figure.seconds.median
            rows.append(
                [
                    str(persisters),
                    number(median, 2),
                    number(rate(options.contracts, median)),
                    number(baseline / median, 2),
                    f"{max(figure.busiest_share):.2f}",
                    number(max(figure.peak_rss) / 2**20, 1),
                ]
            )
        print_table(
            f"{options.contracts:,} contracts drained by N persisters on one durable consumer "
            f"(first publish to last row, medians of {options.repeat})",
            [
                "persisters",
                "seconds",
                "contracts/s",
                f"vs {options.persisters[0]}",
                "busiest share of batches",
                "peak RSS MB",
            ],
            rows,
        )
        note(load_average())
        if options.results:
            _record(options, figures)


def _record(options: argparse.Namespace, figures: dict[int, Figures]) -> None:
    """Append the figures to a fault-suite results file, for docs/RELIABILITY.md."""
    baseline = figures[options.persisters[0]].seconds.median
    record = {
        "record": "scale-out",
        "contracts": options.contracts,
        "repeat": options.repeat,
        "load_average": os.getloadavg()[0],
        "rows": [
            {
                "persisters": persisters,
                "seconds": figure.seconds.median,
                "contracts_per_second": options.contracts / figure.seconds.median,
                "vs_first": baseline / figure.seconds.median,
                "busiest_share": max(figure.busiest_share),
            }
            for persisters, figure in figures.items()
        ],
    }
    with options.results.open("a") as out:
        out.write(json.dumps(record) + "\n")


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--contracts", type=int, default=35_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--persisters", type=lambda text: [int(n) for n in text.split(",")], default=[1, 2, 3]
    )
    parser.add_argument("--work-dir", type=Path, default=None)
    parser.add_argument(
        "--results",
        type=Path,
        default=None,
        help="append the figures to this fault-suite results file (tests/faults/report.py)",
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse()))
