"""The filters on what contracts hold read contracts and items through indexes, never a seq
scan, on the 50,000-contract table of the list-query EXPLAIN test (derived fields computed by
the same SQL the persister runs, on the SDE catalog)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from common.db import create_engine
from common.derived_fields import DERIVE_ALL
from services.api import queries
from services.api.queries import Statement
from services.api.schemas import ContractListQuery
from tests.integration.test_api_explain import CONTRACTS, GENERATE_CONTRACTS, GENERATE_ITEMS, _nodes

BLUEPRINT_COPIES = """
UPDATE contract_items SET is_blueprint_copy = true, material_efficiency = record_id % 11,
    time_efficiency = (record_id % 11) * 2, runs = 1 + record_id % 300
WHERE record_id % 23 = 0 AND is_included
"""
STATIONS = """
INSERT INTO stations (station_id, name, system_id, resolved_at)
SELECT 60000000 + s, 'Station ' || s, 30000000 + s % 500, now()
FROM generate_series(0, 4999) AS s
"""


def _page(**params: Any) -> Statement:
    query = ContractListQuery.model_validate(params)
    return queries.list_statement(query, None, query.limit + 1)


CONTENT_QUERIES: list[tuple[str, Statement]] = [
    ("search by name", _page(q="vexor navy")),
    ("search by name, by price", _page(q="raven", sort="price", order="asc")),
    ("ships by price", _page(ship=True, sort="price", order="asc")),
    ("a category", _page(category_id=9)),
    ("a group, all statuses", _page(group_id=26, status="all")),
    ("copies with ME >= 8", _page(bpc=True, min_me=8)),
    ("copies, runs and TE bounds", _page(min_runs=100, max_te=10, sort="price")),
    ("from a system", _page(system_id=30000142, sort="price")),
    ("couriers by reward per m3", _page(type=["courier"], sort="reward_per_m3", order="desc")),
    ("couriers paying per m3", _page(min_reward_per_m3=1000)),
]


@pytest.fixture
async def large_database(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url, pool_size=1)
    try:
        async with engine.begin() as connection:
            for statement in (GENERATE_CONTRACTS, GENERATE_ITEMS, BLUEPRINT_COPIES, STATIONS):
                await connection.execute(text(statement))
            raw = await connection.get_raw_connection()
            await raw.driver_connection.execute(DERIVE_ALL)  # type: ignore[union-attr]
        async with engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            for table in ("contracts", "contract_items", "stations", "item_types"):
                await connection.execute(text(f"ANALYZE {table}"))
        yield engine
    finally:
        await engine.dispose()


@pytest.mark.timeout(600)
async def test_content_filters_read_through_indexes(large_database: AsyncEngine) -> None:
    failures = []
    async with large_database.connect() as connection:
        total = (await connection.execute(text("SELECT count(*) FROM contracts"))).scalar_one()
        assert total == CONTRACTS
        derived = (
            await connection.execute(
                text("SELECT count(*) FILTER (WHERE is_ship), count(*) FILTER (WHERE has_bpc)"
                     " FROM contracts")
            )
        ).one()  # fmt: skip
        assert derived[0] > 0
        assert derived[1] > 0
        for name, statement in CONTENT_QUERIES:
            plan = (await queries.explain(connection, statement))["Plan"]
            scans = {
                (node.get("Relation Name"), node["Node Type"])
                for node in _nodes(plan)
                if node.get("Relation Name") in {"contracts", "contract_items"}
            }
            if any(kind == "Seq Scan" for _, kind in scans):
                failures.append(f"{name}: {sorted(scans)}")
    assert failures == []
