"""The filters on what contracts hold read contracts and items through indexes, never a seq
scan, on the 50,000-contract table of the list-query EXPLAIN test (derived fields computed by
the same SQL the persister runs, on the SDE catalog)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from common.db import create_engine
from common.derived_fields import DERIVE_ALL
from services.api import queries
from services.api.kit.explain import plan_nodes
from services.api.kit.statements import read_rows
from services.api.queries import Keyset, Statement
from services.api.queries.listing import few_contracts_start_in
from services.api.schemas import ContractListQuery
from services.api.settings import ApiSettings
from tests.integration.test_api_explain import CONTRACTS, GENERATE_CONTRACTS, GENERATE_ITEMS

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
#: The stations' 500 systems, true security from -0.5 to 1.0 (every class well represented).
SYSTEMS = """
INSERT INTO solar_systems (system_id, name, constellation_id, security_status, resolved_at)
SELECT 30000000 + s, 'System ' || s, 20000000 + s / 10, round((s % 31 - 10) / 20.0, 3), now()
FROM generate_series(0, 499) AS s
"""
SHIPS_MARKET_GROUP = 4
COUNT_EXACT_THRESHOLD: int = ApiSettings.model_fields["count_exact_threshold"].get_default()


def _page(**params: Any) -> Statement:
    """The list statement the API runs: on this table every system is a quiet one (100
    contracts each; ``test_system_pages_are_read_as_the_system_asks`` checks it), read filter
    first."""
    query = ContractListQuery.model_validate(params)
    return queries.list_statement(
        query, None, query.limit + 1, filter_first=query.system_id is not None
    )


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
    (
        "a region's couriers by reward per m3",
        _page(region_id=[10000043], min_reward_per_m3=100, sort="reward_per_m3", order="desc"),
    ),
    ("search, hostile text", _page(q="vexor%_\\.*(x+)+$ navy")),
    ("a market group's subtree", _page(market_group_id=SHIPS_MARKET_GROUP)),
    ("a market group by price", _page(market_group_id=SHIPS_MARKET_GROUP, sort="price")),
    ("an unknown market group", _page(market_group_id=999_999_999)),
    ("high sec", _page(security="highsec")),
    ("low sec by price", _page(security="lowsec", sort="price", order="asc")),
    ("null sec couriers", _page(security="nullsec", type=["courier"], sort="reward_per_m3")),
    (
        "low sec, a market group, all statuses",
        _page(security="lowsec", market_group_id=SHIPS_MARKET_GROUP, status="all"),
    ),
]

#: Each content filter with a selective filter on the contract beside it: the planner must not
#: give up the second filter's index for a scan of the items (or of the contracts).
CONTENT_FILTERS: list[tuple[str, dict[str, Any]]] = [
    ("a category", {"category_id": 9}),
    ("a group", {"group_id": 26}),
    ("a market group", {"market_group_id": SHIPS_MARKET_GROUP}),
    ("search by name", {"q": "raven"}),
    ("ships", {"ship": True}),
    ("copies with ME >= 8", {"bpc": True, "min_me": 8}),
    ("copies, runs and TE bounds", {"min_runs": 100, "max_te": 10}),
]
SELECTIVE_FILTERS: list[tuple[str, dict[str, Any]]] = [
    ("in one region", {"region_id": [10000002]}),
    ("in a price window", {"min_price": "1000", "max_price": "50000", "sort": "price"}),
    ("of one issuer", {"issuer_id": 90000037, "status": "all"}),
    ("from a system", {"system_id": 30000142}),
    ("from a station, by price", {"start_location_id": 60000013, "sort": "price"}),
    ("in one region, by price", {"region_id": [10000043], "sort": "price", "order": "asc"}),
]


def _statements(name: str, **params: Any) -> list[tuple[str, Statement]]:
    """The list statement and the capped count (``count=true``) of the same filters."""
    query = ContractListQuery.model_validate(params)
    return [
        (name, _page(**params)),
        (f"{name}, counted", queries.capped_count_statement(query, COUNT_EXACT_THRESHOLD)),
    ]


COMBINED_QUERIES: list[tuple[str, Statement]] = [
    statement
    for content, content_params in CONTENT_FILTERS
    for selective, selective_params in SELECTIVE_FILTERS
    for statement in _statements(f"{content}, {selective}", **content_params, **selective_params)
]


@pytest.fixture
async def large_database(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url, pool_size=1)
    try:
        async with engine.begin() as connection:
            for statement in (
                GENERATE_CONTRACTS,
                GENERATE_ITEMS,
                BLUEPRINT_COPIES,
                STATIONS,
                SYSTEMS,
            ):
                await connection.execute(text(statement))
            raw = await connection.get_raw_connection()
            await raw.driver_connection.execute(DERIVE_ALL)  # type: ignore[union-attr]
        async with engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            for table in (
                "contracts",
                "contract_items",
                "stations",
                "solar_systems",
                "item_types",
                "market_groups",
            ):
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
        for name, statement in CONTENT_QUERIES + COMBINED_QUERIES:
            plan = (await queries.explain(connection, statement))["Plan"]
            scans = {
                (node.get("Relation Name"), node["Node Type"])
                for node in plan_nodes(plan)
                if node.get("Relation Name") in {"contracts", "contract_items"}
            }
            if any(kind == "Seq Scan" for _, kind in scans):
                failures.append(f"{name}: {sorted(scans)}")
    assert failures == []


#: 100 of the 50,000 contracts start in it (5,000 stations over 500 systems).
QUIET_SYSTEM = 30000142
#: Made busy by the test: 12,500 contracts moved to its stations.
BUSY_SYSTEM = 30000007
MAKE_BUSY = """
UPDATE contracts SET start_location_id = 60000007 + 500 * (contract_id % 10)
WHERE contract_id % 4 = 0
"""
#: Pages read both ways (as the planner chooses, and filter first) for each system.
SYSTEM_PAGES: list[dict[str, Any]] = [
    {"sort": "price", "order": "asc"},
    {"sort": "volume", "order": "desc", "status": "all"},
    {"sort": "reward", "order": "asc", "status": "all"},
    {"sort": "date_issued", "order": "desc", "type": ["item_exchange"]},
    {"sort": "date_expired", "order": "asc", "status": "gone", "min_price": 1000},
]


def _contract_reads(plan: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [
        (node["Node Type"], node.get("Index Name"))
        for node in plan_nodes(plan)
        if node.get("Relation Name") == "contracts"
        or str(node.get("Index Name", "")).startswith("ix_contracts")
    ]


@pytest.mark.timeout(600)
async def test_system_pages_are_read_as_the_system_asks(large_database: AsyncEngine) -> None:
    """A quiet system is read filter first (through its stations' index, never by walking a
    sort order's index), a busy one as the planner chooses; for either system both ways give
    the same pages, cursors included."""
    async with large_database.connect() as connection:
        await connection.execute(text(MAKE_BUSY))
        await connection.commit()
        await connection.execute(text("ANALYZE contracts"))
        raw = await connection.get_raw_connection()
        driver = raw.driver_connection
        assert isinstance(driver, asyncpg.Connection)
        assert await few_contracts_start_in(driver, QUIET_SYSTEM)
        assert not await few_contracts_start_in(driver, QUIET_SYSTEM, bound=100)
        assert await few_contracts_start_in(driver, 39_999_999)  # no station at all
        assert not await few_contracts_start_in(driver, BUSY_SYSTEM)

        pages_read = 0
        for system in (QUIET_SYSTEM, BUSY_SYSTEM):
            for params in SYSTEM_PAGES:
                query = ContractListQuery.model_validate(
                    {**params, "system_id": system, "limit": 20}
                )
                after = None
                for _ in range(3):
                    walked, filtered = [
                        await read_rows(
                            driver,
                            *queries.list_query(query, after, query.limit + 1, filter_first=first),
                        )
                        for first in (False, True)
                    ]
                    assert walked == filtered, (system, params)
                    pages_read += 1
                    if len(walked) <= query.limit:
                        break
                    last = walked[query.limit - 1]
                    after = Keyset(last[query.sort], last["contract_id"])
        assert pages_read > 15

        for params in SYSTEM_PAGES:
            # With sorts priced out, the planner walks an order's index wherever it can: the
            # quiet system's statement leaves it no way to.
            quiet = ContractListQuery.model_validate({**params, "system_id": QUIET_SYSTEM})
            statement = queries.list_statement(quiet, None, 51, filter_first=True)
            await connection.execute(text("SET enable_sort = off"))
            reads = _contract_reads((await queries.explain(connection, statement))["Plan"])
            await connection.execute(text("RESET enable_sort"))
            # Bitmaps of other indexes may narrow the stations' rows; no index is walked.
            walks = [
                (kind, index)
                for kind, index in reads
                if kind in {"Index Scan", "Index Only Scan", "Seq Scan"}
                and index != "ix_contracts_start_location"
            ]
            assert walks == [], (params, reads)
            assert ("Bitmap Index Scan", "ix_contracts_start_location") in reads, params
