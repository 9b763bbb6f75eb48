"""Matching cost of the notifier: 10,000 saved searches against 1,000-contract batches.

Each batch is applied by the persister's apply code (its time is the baseline, measured in the
same run on the same database), then matched against every search by the notifier's one
statement (``services/notifier/matching.py``). Printed: per batch of 1,000 contracts, the
apply time, the matching time, their ratio, and the alerts recorded.

    uv run python -m benchmarks.bench_notifier [--batches 5] [--searches 10000]
        [--content-share 0.3]

The searches: 90 % watchlists (one item type and a maximum price; half of them on a type the
batches hold), 10 % searches without a type (a region, a contract type, a start location the
batches use, a price range). With ``--content-share``, that share of them is instead a search
without a type on the content filters (a name search on words of the batches' type names,
ship, category, group, blueprint copies, system, reward per m3), and the SDE catalog is loaded
first so that contracts carry their names and taxonomy.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from random import Random
from typing import Any

import asyncpg
import orjson

from benchmarks.support import Databases, benchmark_servers, console, unique_prefix
from benchmarks.workload import REGION, make_load
from common.db import asyncpg_dsn
from common.sde.loader import load_catalog
from common.search_keys import search_keys
from common.subjects import Subjects
from services.api.name_filters import word_search_params
from services.notifier.matching import DbConnection, match_contracts
from services.persister.applier import Delivery, apply_deliveries

#: Content-filter searches (``--content-share``): each a filter set drawn by one of these.
CONTENT_KINDS = ("q", "ship", "category", "group", "bpc", "system", "reward_per_m3")
JITA_STATION, JITA = 60003760, 30000142


@dataclass(frozen=True)
class Catalog:
    """What content-filter searches are drawn from: the load's type names and taxonomy."""

    names: list[str]
    groups: list[int]
    categories: list[int]


def _content_filters(rng: Random, catalog: Catalog) -> dict[str, Any]:
    """A content-filter search as narrow as a trader's: a few alerts per thousand contracts."""
    kind = rng.choice(CONTENT_KINDS)
    if kind == "q":
        words = rng.choice(catalog.names).lower().split()
        return {"q": " ".join(words[: rng.randint(1, 2)]).ljust(3)}
    if kind == "ship":
        return {"ship": True, "max_price": rng.choice((1e5, 1e6)), "region_id": [REGION]}
    if kind == "category":
        return {"category_id": rng.choice(catalog.categories), "max_price": 1e5}
    if kind == "group":
        return {"group_id": rng.choice(catalog.groups), "max_price": rng.choice((1e6, 1e7))}
    if kind == "bpc":
        return {"bpc": True, "min_me": 10, "min_te": rng.choice((16, 20)), "min_runs": 50}
    if kind == "system":
        return {"system_id": JITA, "q": rng.choice(catalog.names).lower()[:20].ljust(3)}
    return {"min_reward_per_m3": rng.choice((2000, 5000)), "type": ["courier"]}


#: The columns of a type-less search the bench's filter sets use (search_store.py's).
_SCALARS = (
    "min_price", "max_price", "start_location_id", "ship", "category_id", "group_id", "bpc",
    "min_runs", "min_me", "min_te", "system_id", "min_reward_per_m3",
)  # fmt: skip
_STAGING = """
CREATE TEMPORARY TABLE searches_in (
    ordinal int, filters jsonb, region_ids bigint[], contract_types text[],
    min_price numeric, max_price numeric, start_location_id bigint, ship boolean,
    category_id int, group_id int, bpc boolean, min_runs int, min_me int, min_te int,
    system_id bigint,
    min_reward_per_m3 float8, q_pattern text
) ON COMMIT DROP
"""
_COLUMNS = ", ".join(("filters", "region_ids", "contract_types", *_SCALARS, "q_pattern"))


def _search_row(ordinal: int, filters: dict[str, Any]) -> tuple[object, ...]:
    unstored = set(filters) - {"q", "region_id", "type", *_SCALARS}
    assert not unstored, f"no column for {unstored}"
    q = filters.get("q")
    return (
        ordinal,
        orjson.dumps(filters).decode(),
        filters.get("region_id", []),
        filters.get("type", []),
        *(filters.get(name) for name in _SCALARS),
        word_search_params(q)[1] if q is not None else None,
    )


async def _insert_type_less(
    connection: DbConnection, account: int, searches: list[dict[str, Any]]
) -> None:
    """Searches without item types, with their match keys (as search_store.py files them)."""
    async with connection.transaction():
        await connection.execute(_STAGING)
        await connection.copy_records_to_table(
            "searches_in", records=[_search_row(n, f) for n, f in enumerate(searches)]
        )
        ids = await connection.fetch(
            f"INSERT INTO saved_searches (account_id, name, has_type_filter, include_requested,"
            f" {_COLUMNS}) SELECT $1, 'broad', false, false, {_COLUMNS}"
            " FROM searches_in ORDER BY ordinal RETURNING search_id",
            account,
        )
    keys = [
        (key, row["search_id"])
        for row, filters in zip(ids, searches, strict=True)
        for key in search_keys(filters)
    ]
    await connection.copy_records_to_table(
        "saved_search_keys", records=keys, columns=["match_key", "search_id"]
    )


async def insert_searches(
    connection: DbConnection,
    count: int,
    load_types: list[int],
    locations: list[int],
    seed: int,
    content_share: float = 0.0,
    catalog: Catalog | None = None,
) -> None:
    """The searches (also bench_alert_latency's), with their types and match keys; a share
    ``content_share`` of them content-filter searches drawn from ``catalog``."""
    rng = Random(seed)
    account = await connection.fetchval(
        "INSERT INTO accounts (name) VALUES ('bench') RETURNING account_id"
    )
    watch_rows: list[tuple[int, float]] = []
    type_less: list[dict[str, Any]] = []
    for index in range(count):
        if catalog is not None and rng.random() < content_share:
            type_less.append(_content_filters(rng, catalog))
        elif index % 10:
            type_id = rng.choice(load_types) if rng.random() < 0.5 else rng.randint(18, 60_000)
            max_price = rng.choice((1e6, 1e7, 1e8, 1e9))
            watch_rows.append((type_id, max_price))
        else:
            low = rng.choice((0, 1e6, 1e7))
            kind = rng.choice(("item_exchange", "auction", "courier"))
            type_less.append(
                {"region_id": [REGION], "type": [kind], "start_location_id": rng.choice(locations),
                 "min_price": low, "max_price": low * 100}
            )  # fmt: skip
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
    await _insert_type_less(connection, account, type_less)
    await connection.execute(
        "ANALYZE saved_searches; ANALYZE saved_search_types; ANALYZE saved_search_keys"
    )


async def _catalog(connection: DbConnection, load_types: list[int]) -> Catalog:
    """The load's types as the SDE catalog names them, and Jita 4-4 placed in Jita."""
    await connection.execute(
        "INSERT INTO stations (station_id, name, system_id, resolved_at)"
        " VALUES ($1, 'Jita IV - Moon 4 - Caldari Navy Assembly Plant', $2, now())",
        JITA_STATION,
        JITA,
    )
    rows = await connection.fetch(
        "SELECT name, group_id, category_id FROM item_types WHERE type_id = ANY($1::bigint[])"
        " ORDER BY type_id",
        load_types,
    )
    return Catalog(
        [r["name"] for r in rows],
        sorted({r["group_id"] for r in rows}),
        sorted({r["category_id"] for r in rows}),
    )


async def run(batches: int, searches: int, seed: int, content_share: float) -> None:
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
            catalog = None
            if content_share:
                await load_catalog(database_url)
                async with pool.acquire() as connection:
                    catalog = await _catalog(connection, load_types)
            async with pool.acquire() as connection:
                started = time.perf_counter()
                await insert_searches(
                    connection, searches, load_types, locations, seed, content_share, catalog
                )
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
    console.print(
        f"batches of 1000 contracts: {batches}, saved searches: {searches}"
        f" (content-filter share {content_share:.0%})"
    )
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
    parser.add_argument(
        "--content-share", type=float, default=0.0, help="share of content-filter searches"
    )
    args = parser.parse_args()
    asyncio.run(run(args.batches, args.searches, args.seed, args.content_share))


if __name__ == "__main__":
    main()
