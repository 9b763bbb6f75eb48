"""The alembic history applies up and down, on empty and on populated databases, and matches
the models."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from common.db import Base, asyncpg_dsn, create_engine
from common.derived_fields import DERIVE_ALL
from common.messages import ContractsBatch, RegionSweep
from common.migration import alembic_config, downgrade, upgrade
from common.search_keys import search_keys
from services.persister.repository import apply_contracts, apply_sweep
from tests.support import factories as f

#: Every revision after the first, with the one before it, oldest first.
_STEPS = [
    (script.down_revision, script.revision)
    for script in reversed(
        list(ScriptDirectory.from_config(alembic_config("")).walk_revisions("base", "heads"))
    )
    if script.down_revision is not None
]

#: The rows every revision since the first holds, in the first revision's columns.
_FIRST_COLUMNS = {
    "contracts": "contract_id, region_id, type, issuer_id, issuer_corporation_id, date_issued,"
    " date_expired, price, reward, collateral, buyout, volume, days_to_complete,"
    " start_location_id, end_location_id, for_corporation, title, status, first_seen_at,"
    " last_seen_at, gone_at, source_last_modified",
    "contract_items": "record_id, contract_id, type_id, quantity, is_included, item_id,"
    " is_blueprint_copy, material_efficiency, time_efficiency, runs",
    "contract_bids": "bid_id, contract_id, amount, date_bid",
    "region_sweeps": "region_id, generation, swept_at, contract_count",
}


async def _connect(database_url: str) -> asyncpg.Connection:
    return await asyncpg.connect(asyncpg_dsn(database_url))


async def _tables(database_url: str) -> set[str]:
    connection = await _connect(database_url)
    try:
        rows = await connection.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {row["tablename"] for row in rows}
    finally:
        await connection.close()


async def _populate_first_revision(database_url: str) -> None:
    """What the first revision's persister left: two contracts applied from the batch of
    generation 0, then the sweep of generation 1 that listed them; one gone; items and bids."""
    swept = f.generation(1)
    connection = await _connect(database_url)
    try:
        async with connection.transaction():
            await connection.executemany(
                f"INSERT INTO contracts ({_FIRST_COLUMNS['contracts']}) VALUES ("
                + ", ".join(f"${n}" for n in range(1, 23))
                + ")",
                [
                    (1, f.REGION, "item_exchange", 90000001, 98000001, f.BASE_TIME,
                     f.BASE_TIME + timedelta(days=13), 1_000_000, 0, 0, None, 10.5, 0,
                     60003760, 60003760, False, "", "outstanding", f.BASE_TIME, swept, None,
                     swept),
                    (2, f.REGION, "auction", 90000002, 98000002, f.BASE_TIME,
                     f.BASE_TIME + timedelta(days=3), 5_000, 0, 0, 9_000, 2.25, 0,
                     60008494, 60008494, True, "bpc", "outstanding", f.BASE_TIME, swept, None,
                     swept),
                    (4, f.REGION, "courier", 90000003, 98000003, f.BASE_TIME,
                     f.BASE_TIME + timedelta(days=7), None, 2_000_000, 100_000_000, None,
                     12_000.0, 3, 60003760, 60008494, False, "", "gone", f.BASE_TIME,
                     f.BASE_TIME, swept, f.BASE_TIME),
                ],
            )  # fmt: skip
            await connection.executemany(
                f"INSERT INTO contract_items ({_FIRST_COLUMNS['contract_items']})"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                [
                    (1001, 1, 34, 100, True, 10**12 + 1001, None, None, None, None),
                    (2001, 2, 691, 1, True, 10**12 + 2001, True, 10, 20, 5),
                    (2002, 2, 35, 7, False, None, None, None, None, None),
                ],
            )
            await connection.execute(
                f"INSERT INTO contract_bids ({_FIRST_COLUMNS['contract_bids']})"
                " VALUES (7001, 2, 6000, $1)",
                f.BASE_TIME,
            )
            await connection.execute(
                f"INSERT INTO region_sweeps ({_FIRST_COLUMNS['region_sweeps']})"
                " VALUES ($1, $2, $3, 3)",
                f.REGION,
                swept,
                swept + timedelta(minutes=2),
            )
    finally:
        await connection.close()


async def _first_revision_rows(database_url: str) -> dict[str, list[dict[str, Any]]]:
    connection = await _connect(database_url)
    try:
        return {
            table: [
                dict(row)
                for row in await connection.fetch(f"SELECT {columns} FROM {table} ORDER BY 1")
            ]
            for table, columns in _FIRST_COLUMNS.items()
        }
    finally:
        await connection.close()


async def test_upgrade_head_then_downgrade_base(empty_database_url: str) -> None:
    await asyncio.to_thread(upgrade, empty_database_url)
    assert {"contracts", "contract_items", "contract_bids", "region_sweeps"} <= await _tables(
        empty_database_url
    )
    await asyncio.to_thread(upgrade, empty_database_url)  # a second run is a no-op
    await asyncio.to_thread(downgrade, empty_database_url)
    assert await _tables(empty_database_url) == {"alembic_version"}


@pytest.mark.parametrize(("previous", "revision"), _STEPS, ids=[r for _, r in _STEPS])
async def test_each_revision_upgrades_and_downgrades_a_populated_database(
    empty_database_url: str, previous: str, revision: str
) -> None:
    await asyncio.to_thread(upgrade, empty_database_url, previous)
    await _populate_first_revision(empty_database_url)
    before = await _first_revision_rows(empty_database_url)
    assert all(before.values())

    await asyncio.to_thread(upgrade, empty_database_url, revision)
    assert await _first_revision_rows(empty_database_url) == before
    await asyncio.to_thread(downgrade, empty_database_url, previous)
    assert await _first_revision_rows(empty_database_url) == before


async def _status(database_url: str, contract_id: int) -> tuple[str, datetime | None]:
    connection = await _connect(database_url)
    try:
        row = await connection.fetchrow(
            "SELECT status, gone_at FROM contracts WHERE contract_id = $1", contract_id
        )
        assert row is not None
        return row["status"], row["gone_at"]
    finally:
        await connection.close()


async def _apply(database_url: str, *messages: object) -> None:
    connection = await _connect(database_url)
    try:
        for message in messages:
            async with connection.transaction():
                if isinstance(message, RegionSweep):
                    await apply_sweep(connection, message)
                else:
                    assert isinstance(message, ContractsBatch)
                    await apply_contracts(connection, [message])
    finally:
        await connection.close()


async def test_a_late_batch_after_upgrading_lands_as_on_a_database_at_head_all_along(
    database_url: str, empty_database_url: str
) -> None:
    """The sweep of generation 1 listed contract 3, whose batch of generation 0 arrives late.
    A database at head all along keeps it outstanding; so must one upgraded from before the
    sweeps kept their listing (which that sweep's row does not hold)."""
    late = f.batch([f.contract(3)], gen=0)
    await _apply(
        database_url, f.batch([f.contract(1), f.contract(2)], gen=0), f.sweep([1, 2, 3], gen=1)
    )
    await _apply(database_url, late)

    await asyncio.to_thread(upgrade, empty_database_url, "0002")
    await _populate_first_revision(empty_database_url)
    await asyncio.to_thread(upgrade, empty_database_url)
    await _apply(empty_database_url, late)

    assert await _status(database_url, 3) == ("outstanding", None)
    assert await _status(empty_database_url, 3) == await _status(database_url, 3)

    # the next complete sweep decides, on both, from its own listing
    next_sweep = f.sweep([1, 2], gen=2)
    await _apply(database_url, next_sweep)
    await _apply(empty_database_url, next_sweep)
    assert await _status(empty_database_url, 3) == ("gone", f.generation(2))
    assert await _status(database_url, 3) == ("gone", f.generation(2))


_OFFERED_KINDS = (
    "SELECT contract_id, offered_category_ids, offered_group_ids, offered_market_group_ids"
    " FROM contracts ORDER BY contract_id"
)


async def test_upgrading_fills_the_offered_kinds_of_the_contracts_held(
    empty_database_url: str,
) -> None:
    """Revision 0010 fills the new derived arrays of the stored contracts as the persister's
    derivation computes them."""
    await asyncio.to_thread(upgrade, empty_database_url, "0009")
    await _populate_first_revision(empty_database_url)
    connection = await _connect(empty_database_url)
    try:
        await connection.execute(
            "INSERT INTO market_groups (market_group_id, name, parent_id) VALUES"
            " (10, 'Materials', NULL), (11, 'Minerals', 10)"
        )
        await connection.execute(
            "INSERT INTO item_types (type_id, name, group_id, category_id, published,"
            " market_group_id, source) VALUES"
            " (34, 'Tritanium', 18, 4, true, 11, 'sde'),"
            " (35, 'Pyerite', 18, 4, true, 11, 'sde'),"
            " (691, 'Rifter Blueprint', 105, 9, true, NULL, 'sde')"
        )
        await asyncio.to_thread(upgrade, empty_database_url)
        upgraded = [tuple(row) for row in await connection.fetch(_OFFERED_KINDS)]
        # contract 2's Pyerite is requested, not offered; contract 4 is a courier
        assert upgraded == [
            (1, [4], [18], [10, 11]),
            (2, [9], [105], []),
            (4, [], [], []),
        ]
        assert await connection.fetchval(
            "SELECT path FROM market_groups WHERE market_group_id = 11"
        ) == [11, 10]
        await connection.execute(DERIVE_ALL)
        assert [tuple(row) for row in await connection.fetch(_OFFERED_KINDS)] == upgraded
    finally:
        await connection.close()


async def test_models_and_migrations_have_no_drift(database_url: str) -> None:
    engine = create_engine(database_url, pool_size=1)

    def _diff(connection: Connection) -> list[object]:
        return list(compare_metadata(MigrationContext.configure(connection), Base.metadata))

    try:
        async with engine.connect() as connection:
            assert await connection.run_sync(_diff) == []
    finally:
        await engine.dispose()


#: Searches without item types as revision 0006 stored them (no content filters then).
_SEARCHES_0006: list[dict[str, Any]] = [
    {"start_location_id": 60003760, "region_id": [10000002], "type": ["courier"]},
    {"issuer_corporation_id": 98000001, "type": ["auction"]},
    {"region_id": [10000043, 10000002]},
    {"type": ["item_exchange", "auction"], "max_price": 5},
    {"max_price": 5},
]


async def test_searches_saved_before_match_keys_are_filed_as_new_ones_would_be(
    empty_database_url: str,
) -> None:
    await asyncio.to_thread(upgrade, empty_database_url, "0006")
    connection = await _connect(empty_database_url)
    try:
        account = await connection.fetchval(
            "INSERT INTO accounts (name) VALUES ('trader') RETURNING account_id"
        )
        ids = [
            await connection.fetchval(
                "INSERT INTO saved_searches (account_id, name, filters, region_ids,"
                " contract_types, start_location_id, issuer_corporation_id, max_price,"
                " has_type_filter, include_requested)"
                " VALUES ($1, 'old', '{}', $2, $3, $4, $5, $6, false, false) RETURNING search_id",
                account,
                search.get("region_id", []),
                search.get("type", []),
                search.get("start_location_id"),
                search.get("issuer_corporation_id"),
                search.get("max_price"),
            )
            for search in _SEARCHES_0006
        ]
    finally:
        await connection.close()

    await asyncio.to_thread(upgrade, empty_database_url)
    connection = await _connect(empty_database_url)
    try:
        rows = await connection.fetch("SELECT match_key, search_id FROM saved_search_keys")
    finally:
        await connection.close()
    filed = {search_id: sorted(r["match_key"] for r in rows if r["search_id"] == search_id)
             for search_id in ids}  # fmt: skip
    assert filed == {
        search_id: sorted(search_keys(search))
        for search_id, search in zip(ids, _SEARCHES_0006, strict=True)
    }
