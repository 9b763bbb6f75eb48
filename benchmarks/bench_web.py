"""The HTML pages against the JSON calls they are built on, same server, same run.

    uv run python -m benchmarks.bench_web                          # 1M contracts, ~6M items
    uv run python -m benchmarks.bench_web --contracts 100000 --rounds 100
    uv run python -m benchmarks.bench_web --data-dir /tmp/bench-api   # bench_api's data, reused

Generates the data as ``bench_api`` does (``benchmarks.api_dataset``: same SQL, same database
name in a kept ``--data-dir``), serves the API in a child process without its response cache,
and sends each pair of (page, JSON call) alternately from one client for ``--rounds`` rounds,
so that both see the same server, data and load. Prints p50 / p99 of each and the ratios. A page
does a little more than its JSON call: on the auction tab it reads the highest bids, and an
empty table reads the regions' sweep times (to say "first sweep in progress"). The tabs' counts
and the freshness line come after the table, from ``/tab-counts`` (htmx loads it): it is
measured as a pair of its own against the list with ``count=true``. The JSON call given beside
each page is the closest one (the list with ``count=true``); the plain list is measured too.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from pathlib import Path

import asyncpg
import httpx

from benchmarks import api_dataset
from benchmarks.support import percentile, served_api
from common.db import asyncpg_dsn

# name, page URL, JSON URL
PAIRS: list[tuple[str, str, str]] = [
    ("newest", "/", "/v1/contracts?count=true"),
    ("newest (plain list)", "/", "/v1/contracts"),
    (
        "The Forge by price",
        "/?region_id=10000002&sort=price&order=asc",
        "/v1/contracts?region_id=10000002&sort=price&order=asc&count=true",
    ),
    (
        "couriers by reward",
        "/?type=courier&sort=reward",
        "/v1/contracts?type=courier&sort=reward&count=true",
    ),
    ("auctions", "/?type=auction", "/v1/contracts?type=auction&count=true"),
    ("tab counts (after)", "/tab-counts", "/v1/contracts?count=true"),
    ("one contract", "/contracts/4242", "/v1/contracts/4242"),
    ("regions", "/regions", "/v1/regions"),
]


async def timed(client: httpx.AsyncClient, url: str) -> float:
    started = time.perf_counter()
    response = await client.get(url)
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise SystemExit(f"{url}: {response.status_code} {response.text[:300]}")
    return elapsed


async def measure(base_url: str, rounds: int) -> None:
    page_times: dict[str, list[float]] = {name: [] for name, _, _ in PAIRS}
    json_times: dict[str, list[float]] = {name: [] for name, _, _ in PAIRS}
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        for _, page, api in PAIRS:  # warm-up: plans, statement caches, connections
            await timed(client, page)
            await timed(client, api)
        for round_number in range(rounds):
            for name, page, api in PAIRS:
                # Alternate which goes first, so that neither always finds the caches warmer.
                first, second = (page, api) if round_number % 2 == 0 else (api, page)
                a, b = await timed(client, first), await timed(client, second)
                page_time, json_time = (a, b) if first == page else (b, a)
                page_times[name].append(page_time)
                json_times[name].append(json_time)
    print(f"{'pair':<22} {'page p50':>9} {'json p50':>9} {'x p50':>6} {'page p99':>9} "
          f"{'json p99':>9} {'x p99':>6}")  # fmt: skip
    for name, _, _ in PAIRS:
        page_p50, json_p50 = (
            statistics.median(page_times[name]),
            statistics.median(json_times[name]),
        )
        page_p99 = percentile(page_times[name], 0.99)
        json_p99 = percentile(json_times[name], 0.99)
        print(
            f"{name:<22} {page_p50 * 1000:8.2f}ms {json_p50 * 1000:8.2f}ms "
            f"{page_p50 / json_p50:5.2f}x {page_p99 * 1000:8.2f}ms {json_p99 * 1000:8.2f}ms "
            f"{page_p99 / json_p99:5.2f}x"
        )


async def main(arguments: argparse.Namespace) -> None:
    async with api_dataset.prepared(
        arguments.database_url, arguments.data_dir, arguments.contracts
    ) as database_url:
        await _sweeps(database_url)
        secret = uuid.uuid4().hex + uuid.uuid4().hex
        async with served_api(database_url, secret, 4, 1, 0.0) as (base_url, _):
            await measure(base_url, arguments.rounds)
    print(
        f"({arguments.contracts:,} contracts, {arguments.rounds} rounds of every pair from one "
        "client, alternating page and JSON; API without response cache; client, API and "
        "PostgreSQL on one machine)"
    )


async def _sweeps(database_url: str) -> None:
    """A complete sweep per region, as the persister leaves them (the page reads them)."""
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await connection.execute(
            """
            INSERT INTO region_sweeps (region_id, generation, swept_at, contract_count)
            SELECT region_id, now() - interval '5 minutes', now() - interval '2 minutes',
                   count(*) FILTER (WHERE status = 'outstanding')
            FROM contracts GROUP BY region_id
            ON CONFLICT (region_id) DO NOTHING
            """
        )
    finally:
        await connection.close()


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--contracts", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--database-url", default=None)
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_arguments()))
