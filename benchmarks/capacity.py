"""Capacity model: per-stage rates and sizes measured in this run, scaled to EVE and beyond.

Measured here, on a Forge-sized load (1000-contract batches, the benchmarks' generator):
stream bytes per contract (JetStream's own count after publishing), database bytes per
contract (contracts and items tables with every index), the persister's throughput (one
process, from first publish to last row) and the API's throughput (one worker, concurrent
list queries with random filters and sorts, response cache off). The model then scales the
assumed size of EVE's public contract market (flags, printed) by 1x, 10x and 100x and prints
what each stage must do against what one process measured here does.

    uv run python -m benchmarks.capacity [--contracts 35000] [--markdown]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import nats

from benchmarks.bench_scale_out import (
    Persister,
    _start,
    _stop,
    _wait_for_consumers,
    _wait_for_rows,
)
from benchmarks.support import (
    Databases,
    Stopwatch,
    benchmark_servers,
    cleanup_after,
    load_average,
    note,
    number,
    print_table,
    unique_prefix,
)
from benchmarks.workload import make_load
from common.db import asyncpg_dsn
from common.stream import ensure_streams
from common.subjects import Subjects
from services.stack.servers import ServerUrls, free_port, wait_for_port

CLI = [sys.executable, "-m", "services.cli"]
RETENTION_DAYS = 35
SCALES = (1, 10, 100)


@dataclass(frozen=True)
class Measured:
    contracts: int
    stream_bytes_per_contract: float
    database_bytes_per_contract: float
    persister_contracts_per_second: float
    api_requests_per_second: float
    api_failures: int


async def _database_bytes(database_url: str) -> int:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        size = await connection.fetchval(
            "SELECT pg_total_relation_size('contracts') + pg_total_relation_size('contract_items')"
        )
    finally:
        await connection.close()
    return int(size)


def _api_queries(rng: random.Random) -> dict[str, str]:
    params: dict[str, str] = {"limit": rng.choice(["20", "50", "100"])}
    params["sort"] = rng.choice(["date_issued", "price", "date_expired", "volume"])
    params["order"] = rng.choice(["asc", "desc"])
    choice = rng.random()
    if choice < 0.3:
        params["type"] = rng.choice(["item_exchange", "auction", "courier"])
    elif choice < 0.6:
        low = rng.choice([0, 1e5, 1e6, 1e7])
        params["min_price"] = str(low)
        params["max_price"] = str(low * rng.choice([10, 100]) + 1e6)
    return params


async def _api_throughput(database_url: str, requests: int, clients: int) -> tuple[float, int]:
    port = free_port()
    env = {
        **os.environ,
        "HANGAR_DATABASE_URL": database_url,
        "HANGAR_API_RESPONSE_CACHE_S": "0",
        "HANGAR_RESPONSE_CACHE_S": "0",
        "HANGAR_LOG_LEVEL": "WARNING",
        "HANGAR_LOG_JSON": "true",
    }
    process = subprocess.Popen(  # noqa: ASYNC220
        [*CLI, "api", "--port", str(port)], env=env, stdout=subprocess.DEVNULL
    )
    failures = 0
    try:
        await asyncio.to_thread(wait_for_port, port, process, "api", 60)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            per_client = requests // clients

            async def run(seed: int) -> int:
                rng = random.Random(seed)
                failed = 0
                for _ in range(per_client):
                    response = await client.get("/v1/contracts", params=_api_queries(rng))
                    failed += response.status_code != 200
                return failed

            await client.get("/v1/contracts")
            with Stopwatch() as watch:
                failures = sum(await asyncio.gather(*(run(seed) for seed in range(clients))))
        return per_client * clients / watch.seconds, failures
    finally:
        process.terminate()
        process.wait(timeout=30)


async def measure(urls: ServerUrls, contracts: int) -> Measured:
    prefix = unique_prefix("capacity")
    subjects = Subjects(prefix)
    load = make_load(contracts, seed=9, subjects=subjects)
    databases = Databases(urls.database_url, prefix)
    async with cleanup_after(urls, prefix, databases, keep=False):
        target = await databases.fresh("model")
        client = await nats.connect(urls.nats_url)
        processes: list[Persister] = []
        try:
            js = client.jetstream()
            await ensure_streams(js, subjects)
            processes = [_start(urls, prefix, target)]
            await _wait_for_consumers(js, subjects, 1)
            with Stopwatch() as watch:
                for message in load.messages:
                    await js.publish(
                        message.subject, message.body, headers={"Nats-Msg-Id": message.message_id}
                    )
                await _wait_for_rows(target, load.contracts, load.items)
            stream_bytes = (await js.stream_info(subjects.stream)).state.bytes
        finally:
            await client.close()
            await asyncio.to_thread(_stop, processes)
        database_bytes = await _database_bytes(target)
        api_rate, failures = await _api_throughput(target, requests=2000, clients=16)
    return Measured(
        contracts=load.contracts,
        stream_bytes_per_contract=stream_bytes / load.contracts,
        database_bytes_per_contract=database_bytes / load.contracts,
        persister_contracts_per_second=load.contracts / watch.seconds,
        api_requests_per_second=api_rate,
        api_failures=failures,
    )


def show(title: str, columns: list[str], rows: list[list[str]], *, markdown: bool) -> None:
    """A rich table on a terminal; Markdown (for docs/SCALING.md) with ``--markdown``."""
    if not markdown:
        print_table(title, columns, rows)
        return
    lines = [f"**{title}**", "", "| " + " | ".join(columns) + " |"]
    lines.append("|" + "|".join("---" for _ in columns) + "|")
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    note("\n".join([*lines, ""]))


def model(measured: Measured, options: argparse.Namespace) -> None:
    rows = []
    for scale in SCALES:
        live = options.live_contracts * scale
        new_per_hour = options.new_per_hour * scale
        retained = live + new_per_hour * 24 * RETENTION_DAYS
        stream_gb = retained * measured.stream_bytes_per_contract / 1e9
        database_gb = (live + new_per_hour * 24 * 365) * measured.database_bytes_per_contract / 1e9
        rebuild_s = retained / measured.persister_contracts_per_second
        sweep_requests = live / 1000 / 1800
        item_requests = new_per_hour / 3600
        api_workers = options.api_load * scale / measured.api_requests_per_second
        rows.append(
            [
                f"{scale}x",
                number(live),
                number(new_per_hour),
                f"{new_per_hour / 3600 / measured.persister_contracts_per_second:.5f}",
                number(rebuild_s / 60, 1),
                number(stream_gb, 2),
                number(stream_gb * 3, 2),
                number(database_gb, 1),
                number(sweep_requests + item_requests, 2),
                number(api_workers, 1),
            ]
        )
    show(
        "Capacity model (assumptions: "
        f"{options.live_contracts:,} live contracts and {options.new_per_hour:,} new per hour "
        f"at 1x; API demand {options.api_load:,} req/s at 1x; stream retention "
        f"{RETENTION_DAYS} days; gone contracts kept a year)",
        [
            "scale",
            "live contracts",
            "new / hour",
            "persister busy (1 process)",
            "full rebuild (min, 1 process)",
            "stream GB (R1)",
            "stream GB (R3, all nodes)",
            "database GB after a year",
            "ESI requests/s",
            "API workers needed",
        ],
        rows,
        markdown=options.markdown,
    )


async def main(options: argparse.Namespace) -> None:
    with benchmark_servers(options.work_dir) as urls:
        note(load_average())
        note(f"cores: {os.cpu_count()}")
        measured = await measure(urls, options.contracts)
        figures = {
            "stream bytes per contract": number(measured.stream_bytes_per_contract),
            "database bytes per contract": number(measured.database_bytes_per_contract),
            "persister contracts/s (1 process)": number(measured.persister_contracts_per_second),
            "API requests/s (1 worker, no response cache)": number(
                measured.api_requests_per_second
            ),
            "API failed requests": str(measured.api_failures),
        }
        show(
            f"Measured on {measured.contracts:,} contracts",
            ["figure", "value"],
            [[name, value] for name, value in figures.items()],
            markdown=options.markdown,
        )
        model(measured, options)
        note(load_average())


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--contracts", type=int, default=35_000)
    parser.add_argument(
        "--live-contracts",
        type=int,
        default=100_000,
        help="live public contracts in all of EVE (assumed: The Forge holds ~34,000)",
    )
    parser.add_argument(
        "--new-per-hour",
        type=int,
        default=500,
        help="new public contracts per hour in all of EVE (assumed: ~230/h in a 45k corpus)",
    )
    parser.add_argument("--api-load", type=int, default=50, help="API requests/s at 1x")
    parser.add_argument("--markdown", action="store_true", help="print Markdown tables")
    parser.add_argument("--work-dir", type=Path, default=None)
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse()))
