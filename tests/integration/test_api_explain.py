"""On a realistic table the main list queries read contracts through an index, never a seq scan.

50,000 contracts (30 % outstanding, skewed regions, some NULL sort values) and 150,000 items
are generated in SQL, then ANALYZEd; each representative list query of the API (the very
statements the query service runs, cursor pages included) is EXPLAINed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from common.db import create_engine
from services.api import queries
from services.api.kit.explain import plan_nodes
from services.api.queries import Keyset, Statement
from services.api.schemas import ContractListQuery

CONTRACTS = 50_000

GENERATE_CONTRACTS = f"""
INSERT INTO contracts (
    contract_id, region_id, type, issuer_id, issuer_corporation_id, date_issued, date_expired,
    price, reward, collateral, volume, start_location_id, end_location_id, title, status,
    first_seen_at, last_seen_at, gone_at, source_last_modified
)
SELECT
    i,
    (ARRAY[10000002, 10000002, 10000002, 10000002, 10000043, 10000030, 10000032, 10000042,
           10000033, 10000001])[1 + i % 10],
    (ARRAY['item_exchange', 'item_exchange', 'item_exchange', 'auction', 'courier'])
        [1 + (i / 10) % 5],
    90000000 + (i * 37) % 20000,
    98000000 + (i * 53) % 3000,
    timestamptz '2025-01-01' + ((i * 7919) % 5184000) * interval '1 second',
    timestamptz '2025-01-15' + ((i * 7919) % 5184000) * interval '1 second',
    CASE WHEN i % 50 = 0 THEN NULL ELSE ((i * 104729) % 1000000000)::numeric / 100 END,
    CASE WHEN i % 5 = 4 THEN ((i * 31) % 10000000)::numeric
         WHEN i % 97 = 0 THEN NULL ELSE 0 END,
    0,
    CASE WHEN i % 40 = 0 THEN NULL ELSE ((i * 2654435761) % 100000) / 10.0 END,
    60000000 + (i * 13) % 5000,
    60000000 + (i * 17) % 5000,
    CASE WHEN i % 20 = 0 THEN 'WTS item ' || i ELSE '' END,
    CASE WHEN (i / 7) % 10 < 3 THEN 'outstanding' ELSE 'gone' END,
    timestamptz '2025-03-01', timestamptz '2025-03-01',
    CASE WHEN (i / 7) % 10 < 3 THEN NULL ELSE timestamptz '2025-03-02' END,
    timestamptz '2025-03-01'
FROM generate_series(1::bigint, {CONTRACTS}) AS i
"""
GENERATE_ITEMS = f"""
INSERT INTO contract_items (record_id, contract_id, type_id, quantity, is_included)
SELECT c * 4 + k, c, 1 + (c * 7 + k * 1009) % 8000, 1, k < 2
FROM generate_series(1::bigint, {CONTRACTS}) AS c, generate_series(0, 2) AS k
"""

FORGE = 10000002
DOMAIN = 10000043


def _query(**params: Any) -> ContractListQuery:
    return ContractListQuery.model_validate(params)


def _page(query: ContractListQuery, after: Keyset | None = None) -> Statement:
    return queries.list_statement(query, after, query.limit + 1)


LIST_QUERIES: list[tuple[str, Statement]] = [
    ("newest outstanding (the default)", _page(_query())),
    (
        "newest outstanding, a later page",
        _page(_query(), Keyset(datetime(2025, 2, 1, tzinfo=UTC), 12345)),
    ),
    ("one region by price", _page(_query(region_id=[FORGE], sort="price", order="asc"))),
    (
        "one region by price, a later page",
        _page(
            _query(region_id=[FORGE], sort="price", order="asc"),
            Keyset(Decimal("1234567.00"), 777),
        ),
    ),
    ("two regions, newest", _page(_query(region_id=[FORGE, DOMAIN]))),
    ("most expensive", _page(_query(sort="price", order="desc"))),
    ("price range by price", _page(_query(min_price="1000", max_price="50000", sort="price"))),
    ("largest volume", _page(_query(sort="volume", order="desc"))),
    ("largest volume, in the NULLs", _page(_query(sort="volume", order="desc"), Keyset(None, 400))),
    ("highest reward", _page(_query(sort="reward", order="desc", type=["courier"]))),
    (
        "lowest reward, a later page",
        _page(_query(sort="reward", order="asc"), Keyset(Decimal("0.00"), 30000)),
    ),
    ("expiring soon", _page(_query(sort="date_expired", order="asc"))),
    ("item exchanges, newest", _page(_query(type=["item_exchange"]))),
    ("auctions and couriers, newest", _page(_query(type=["auction", "courier"]))),
    ("all statuses, newest", _page(_query(status="all"))),
    ("gone, cheapest", _page(_query(status="gone", sort="price", order="asc"))),
    ("issued in January", _page(_query(issued_after="2025-01-10", issued_before="2025-01-20"))),
    ("one issuer", _page(_query(issuer_id=90000037, status="all"))),
    ("one corporation", _page(_query(issuer_corporation_id=98000053))),
    ("from a station", _page(_query(start_location_id=60000013, sort="price"))),
    ("to a station", _page(_query(end_location_id=60000017, status="all"))),
    ("containing a type", _page(_query(contains_type_id=[1234], status="all"))),
    ("titled, in one region", _page(_query(title="item 12", region_id=[FORGE]))),
    ("counting (capped)", queries.capped_count_statement(_query(region_id=[FORGE]), 10_000)),
]


@pytest.fixture
async def large_database(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url, pool_size=1)
    try:
        async with engine.begin() as connection:
            await connection.execute(text(GENERATE_CONTRACTS))
            await connection.execute(text(GENERATE_ITEMS))
        async with engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(text("ANALYZE contracts"))
            await connection.execute(text("ANALYZE contract_items"))
        yield engine
    finally:
        await engine.dispose()


async def test_list_queries_read_contracts_through_an_index(
    large_database: AsyncEngine,
) -> None:
    failures = []
    async with large_database.connect() as connection:
        total = (await connection.execute(text("SELECT count(*) FROM contracts"))).scalar_one()
        assert total == CONTRACTS
        for name, statement in LIST_QUERIES:
            plan = (await queries.explain(connection, statement))["Plan"]
            on_contracts = [
                node for node in plan_nodes(plan) if node.get("Relation Name") == "contracts"
            ]
            node_types = {node["Node Type"] for node in on_contracts}
            if "Seq Scan" in node_types or not node_types & {
                "Index Scan",
                "Index Only Scan",
                "Bitmap Heap Scan",
            }:
                failures.append(f"{name}: {sorted(node_types)}")
    assert failures == []


async def test_the_seq_scan_check_can_fail(
    large_database: AsyncEngine,
) -> None:
    """The plan walk does see a sequential scan where no index applies (the check is live)."""
    unindexed = queries.list_statement(_query(title="item 12", status="all"), None, 5_000)
    async with large_database.connect() as connection:
        plan = (await queries.explain(connection, unindexed))["Plan"]
    assert any(
        node["Node Type"] == "Seq Scan" and node.get("Relation Name") == "contracts"
        for node in plan_nodes(plan)
    )
