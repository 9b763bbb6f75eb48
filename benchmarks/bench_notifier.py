"""Matching cost of the notifier: 10,000 saved searches against 1,000-contract batches.

Each batch is applied by the persister's apply code (its time is the baseline, measured in the
same run on the same database), then matched against every search by the notifier's one
statement (``services/notifier/matching.py``). Printed: per batch of 1,000 contracts, the
apply time, the matching time, their ratio, and the alerts recorded.

    uv run python -m benchmarks.bench_notifier [--batches 5] [--searches 10000]

The searches: 90 % watchlists (one item type and a maximum price; half of them on a type the
batches hold), 10 % searches without a type (a region, a contract type, a start location the
batches use, a price range).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from datetime import UTC, datetime, timedelta
from random import Random

import asyncpg
import orjson

from benchmarks.support import Databases, benchmark_servers, console, unique_prefix
from benchmarks.workload import make_load
from common.db import asyncpg_dsn
from common.subjects import Subjects
from services.notifier.matching import DbConnection, match_contracts
from services.persister.applier import Delivery, apply_deliveries


async def _insert_searches(
    connection: DbConnection,
    count: int,
    load_types: list[int],
    locations: list[int],
    seed: int,
) -> None:
    rng = Random(seed)
    account = await connection.fetchval(
        "INSERT INTO accounts (name) VALUES ('bench') RETURNING account_id"
    )
    watch_rows: list[tuple[object, ...]] = []
    broad_rows: list[tuple[object, ...]] = []
    for index in range(count):
        if index % 10:
            type_id = rng.choice(load_types) if rng.random() < 0.5 else rng.randint(18, 60_000)
            max_price = rng.choice((1e6, 1e7, 1e8, 1e9))
            watch_rows.append((type_id, max_price))
        else:
            low = rng.choice((0, 1e6, 1e7))
            kind = rng.choice(("item_exchange", "auction", "courier"))
            broad_rows.append((kind, rng.choice(locations), low, low * 100))
    watch_ids = await connection.fetch(
        "INSERT INTO saved_searches (account_id, name, filters, has_type_filter,"
        " include_requested, max_price)"
        " SELECT $1, 'watch', $2::jsonb, true, false, p FROM unnest($3::numeric[]) AS p"
        " RETURNING search_id",
        account,
        orjson.dumps({}).decode(),
        [price for _, price in watch_rows],
    )
    await connection.execute(
        "INSERT INTO saved_search_types (type_id, search_id, include_requested)"
        " SELECT t, s, false FROM unnest($1::bigint[], $2::bigint[]) AS u(t, s)"
        " ON CONFLICT DO NOTHING",
        [type_id for type_id, _ in watch_rows],
        [row["search_id"] for row in watch_ids],
    )
    await connection.execute(
        "INSERT INTO saved_searches (account_id, name, filters, has_type_filter,"
        " include_requested, region_ids, contract_types, start_location_id, min_price,"
        " max_price) SELECT $1, 'broad', '{}'::jsonb, false, false, ARRAY[10000002::bigint],"
        " ARRAY[k], l, lo, hi"
        " FROM unnest($2::text[], $3::bigint[], $4::numeric[], $5::numeric[]) AS u(k, l, lo, hi)",
        account,
        [kind for kind, _, _, _ in broad_rows],
        [location for _, location, _, _ in broad_rows],
        [low for _, _, low, _ in broad_rows],
        [high for _, _, _, high in broad_rows],
    )
    await connection.execute("ANALYZE saved_searches; ANALYZE saved_search_types")


async def run(batches: int, searches: int, seed: int) -> None:
    prefix = unique_prefix("notify")
    with benchmark_servers(None) as urls:
        databases = Databases(urls.database_url, prefix)
        try:
            database_url = await databases.fresh("notifier")
            load = make_load(batches * 1000, seed, Subjects(prefix))
            parsed = [orjson.loads(message.body) for message in load.messages]
            load_types = sorted(
                {
                    item["type_id"]
                    for batch in parsed
                    for c in batch["contracts"]
                    for item in c["items"]
                }
            )
            locations = sorted({c["start_location_id"] for b in parsed for c in b["contracts"]})
            pool = await asyncpg.create_pool(asyncpg_dsn(database_url), min_size=1, max_size=2)
            assert pool is not None
            async with pool.acquire() as connection:
                started = time.perf_counter()
                await _insert_searches(connection, searches, load_types, locations, seed)
                console.print(f"{searches} searches saved in {time.perf_counter() - started:.2f} s")
            received_at = datetime.now(UTC) + timedelta(minutes=1)
            apply_s: list[float] = []
            match_s: list[float] = []
            alerts = 0
            for message, batch in zip(load.messages, parsed, strict=True):
                started = time.perf_counter()
                outcome = await apply_deliveries(pool, [Delivery(message.body, message.subject)])
                apply_s.append(time.perf_counter() - started)
                assert outcome.applied == [0], outcome
                ids = [contract["contract_id"] for contract in batch["contracts"]]
                async with pool.acquire() as connection:
                    started = time.perf_counter()
                    result = await match_contracts(connection, ids, received_at)
                    match_s.append(time.perf_counter() - started)
                alerts += result.alerts
            await pool.close()
        finally:
            await databases.drop_all()
    console.print(f"batches of 1000 contracts: {batches}, saved searches: {searches}")
    for index, (applied, matched) in enumerate(zip(apply_s, match_s, strict=True), start=1):
        console.print(
            f"  batch {index}: apply {applied * 1000:7.1f} ms  match {matched * 1000:7.1f} ms"
            f"  ratio {matched / applied:5.2f}"
        )
    apply_median = statistics.median(apply_s)
    match_median = statistics.median(match_s)
    console.print(
        f"median per 1000 contracts: apply {apply_median * 1000:.1f} ms,"
        f" match against {searches} searches {match_median * 1000:.1f} ms,"
        f" match/apply {match_median / apply_median:.2f}; alerts recorded: {alerts}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--searches", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    asyncio.run(run(args.batches, args.searches, args.seed))


if __name__ == "__main__":
    main()
