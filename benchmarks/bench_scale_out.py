"""Persister scale-out: one durable consumer, 1, 2 and 3 ``hangar-bay persister`` processes.

The same Forge-sized first load (1000-contract batches) is published once per run into a
fresh stream; N persister processes (``--until-idle``) then drain it into a fresh database.
Throughput is contracts per second from the start of the processes to the last one's exit,
with every contract and item checked in the database; the ratio is against one persister
measured in the same run. Peak RSS of each persister process is printed.

    uv run python -m benchmarks.bench_scale_out [--contracts 35000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import nats

from benchmarks.bench_persister import make_load
from benchmarks.support import (
    Databases,
    Samples,
    benchmark_servers,
    cleanup_after,
    fetch_value,
    load_average,
    note,
    number,
    print_table,
    rate,
    unique_prefix,
)
from common.stream import ensure_streams
from common.subjects import Subjects
from tests.servers import ServerUrls

CLI = [sys.executable, "-m", "services.cli"]


def _wait_with_rusage(process: subprocess.Popen[bytes]) -> tuple[int, int]:
    """Exit code and peak RSS in bytes of a child process (``wait4``'s ``ru_maxrss``)."""
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return process.returncode, usage.ru_maxrss * 1024


def _drain(
    urls: ServerUrls, prefix: str, database_url: str, persisters: int
) -> tuple[float, list[int]]:
    env = {
        **os.environ,
        "HANGAR_DATABASE_URL": database_url,
        "HANGAR_NATS_URL": urls.nats_url,
        "HANGAR_REDIS_URL": urls.redis_url,
        "HANGAR_NAME_PREFIX": prefix,
        "HANGAR_LOG_LEVEL": "WARNING",
        "HANGAR_LOG_JSON": "true",
    }
    started = time.perf_counter()
    processes = [
        subprocess.Popen([*CLI, "persister", "--until-idle"], env=env, stdout=subprocess.DEVNULL)
        for _ in range(persisters)
    ]
    results = [_wait_with_rusage(process) for process in processes]
    seconds = time.perf_counter() - started
    for code, _ in results:
        if code != 0:
            raise RuntimeError(f"a persister exited with {code}")
    return seconds, [rss for _, rss in results]


async def scale_phase(
    urls: ServerUrls, contracts: int, counts: list[int], repeat: int
) -> dict[int, tuple[Samples, list[int]]]:
    figures: dict[int, tuple[Samples, list[int]]] = {n: (Samples(), []) for n in counts}
    for round_ in range(repeat):
        for persisters in counts:
            prefix = unique_prefix(f"scale{persisters}")
            subjects = Subjects(prefix)
            load = make_load(contracts, seed=7, subjects=subjects)
            databases = Databases(urls.database_url, prefix)
            async with cleanup_after(urls, prefix, databases, keep=False):
                client = await nats.connect(urls.nats_url)
                try:
                    js = client.jetstream()
                    await ensure_streams(js, subjects)
                    for message in load.messages:
                        await js.publish(
                            message.subject,
                            message.body,
                            headers={"Nats-Msg-Id": message.message_id},
                        )
                finally:
                    await client.close()
                target = await databases.fresh(f"r{round_}")
                seconds, peaks = await asyncio.to_thread(_drain, urls, prefix, target, persisters)
                stored = await fetch_value(target, "SELECT count(*) FROM contracts")
                items = await fetch_value(target, "SELECT count(*) FROM contract_items")
                if (stored, items) != (load.contracts, load.items):
                    raise RuntimeError(
                        f"{persisters} persisters stored {stored} contracts / {items} items, "
                        f"published {load.contracts} / {load.items}"
                    )
                samples, rss = figures[persisters]
                samples.add(seconds)
                rss.extend(peaks)
    return figures


async def main(options: argparse.Namespace) -> None:
    with benchmark_servers(options.work_dir) as urls:
        note(load_average())
        note(f"cores: {os.cpu_count()}")
        figures = await scale_phase(urls, options.contracts, options.persisters, options.repeat)
        baseline = figures[options.persisters[0]][0].median
        rows = []
        for persisters, (samples, rss) in figures.items():
            rows.append(
                [
                    str(persisters),
                    number(samples.median, 2),
                    number(rate(options.contracts, samples.median)),
                    number(baseline / samples.median, 2),
                    number(max(rss) / 2**20, 1),
                ]
            )
        print_table(
            f"{options.contracts:,} contracts drained by N persisters on one durable consumer "
            f"(process start to last exit, medians of {options.repeat})",
            ["persisters", "seconds", "contracts/s", f"vs {options.persisters[0]}", "peak RSS MB"],
            rows,
        )
        note(load_average())


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
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse()))
