"""Running the alembic migrations from code (``hangar-bay migrate``, tests, replay)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import urlsplit

from alembic import command
from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Upgrade the database to ``revision``; safe to run again (a no-op when current)."""
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(database_url), revision)


async def upgrade_async(database_url: str, revision: str = "head") -> None:
    """Alembic's async env runs its own event loop, so run it in a worker thread."""
    await asyncio.to_thread(upgrade, database_url, revision)


async def ensure_database(database_url: str) -> bool:
    """Create the URL's database if the server lacks it; returns whether it was created."""
    import asyncpg  # noqa: PLC0415

    from common.db import asyncpg_dsn, with_database  # noqa: PLC0415

    name = urlsplit(asyncpg_dsn(database_url)).path.lstrip("/")
    admin = await asyncpg.connect(asyncpg_dsn(with_database(database_url, "postgres")), timeout=10)
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if exists:
            return False
        quoted = name.replace('"', '""')
        await admin.execute(f'CREATE DATABASE "{quoted}"')
        return True
    finally:
        await admin.close()
