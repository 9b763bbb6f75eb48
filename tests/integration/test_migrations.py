"""The alembic history applies up and down, and matches the models."""

from __future__ import annotations

import asyncio

import asyncpg
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection

from common.db import Base, asyncpg_dsn, create_engine
from common.migration import downgrade, upgrade


async def _tables(database_url: str) -> set[str]:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        rows = await connection.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {row["tablename"] for row in rows}
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


async def test_models_and_migrations_have_no_drift(database_url: str) -> None:
    engine = create_engine(database_url, pool_size=1)

    def _diff(connection: Connection) -> list[object]:
        return list(compare_metadata(MigrationContext.configure(connection), Base.metadata))

    try:
        async with engine.connect() as connection:
            assert await connection.run_sync(_diff) == []
    finally:
        await engine.dispose()
