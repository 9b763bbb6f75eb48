"""What a replay into an empty database sets aside while it fills the tables, and builds once
at its end: the read-side indexes and the foreign keys.

Every row written into an indexed table updates each of its indexes, one entry at a time, and
every item checks its contract's key; building an index over a full table sorts it once, and
checking a foreign key over full tables is one join: several times cheaper. What the apply
code itself reads stays (primary keys, unique constraints and the region/status index the
sweeps update through). What is set aside is noted, with the statement that builds it again,
in a table of the target itself, in the transaction that drops it, and leaves that table in
the transaction that builds it: a replay interrupted anywhere, resumed or restarted, builds
what is still noted, and nothing is ever lost.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from typing import Any

import asyncpg

from services.persister.repository import DbConnection

log = logging.getLogger(__name__)

LEDGER = "replay_deferred_indexes"
TABLES = ("contracts", "contract_items", "contract_bids")
#: Read by the apply code (sweeps mark contracts gone by region and status).
KEPT = ("ix_contracts_region_status_issued",)
#: Memory per index build: the sort of a universe's items fits in it.
BUILD_MEMORY = "256MB"

_DEFERRABLE_INDEXES = """
SELECT c.relname AS name, t.relname AS table_name, pg_get_indexdef(x.indexrelid) AS definition,
       format('DROP INDEX %I', c.relname) AS removal
FROM pg_index AS x
JOIN pg_class AS c ON c.oid = x.indexrelid
JOIN pg_class AS t ON t.oid = x.indrelid
WHERE t.relnamespace = current_schema()::regnamespace
  AND t.relname = ANY($1::text[])
  AND NOT x.indisunique AND NOT x.indisprimary
  AND c.relname <> ALL($2::text[])
ORDER BY c.relname
"""

#: The foreign keys of items and bids to their contracts: the apply code writes a contract
#: before its items and checks a bid's contract itself, so they only guard; checked row by
#: row they cost more than the rows' own writing, checked at the end in one join.
_DEFERRABLE_FOREIGN_KEYS = """
SELECT k.conname AS name, t.relname AS table_name,
       format('ALTER TABLE %I ADD CONSTRAINT %I %s', t.relname, k.conname,
              pg_get_constraintdef(k.oid)) AS definition,
       format('ALTER TABLE %I DROP CONSTRAINT %I', t.relname, k.conname) AS removal
FROM pg_constraint AS k
JOIN pg_class AS t ON t.oid = k.conrelid
WHERE t.relnamespace = current_schema()::regnamespace
  AND t.relname = ANY($1::text[]) AND k.contype = 'f'
ORDER BY k.conname
"""


async def set_aside(connection: DbConnection) -> list[str]:
    """Set the read-side indexes and the foreign keys aside if the target holds no contract
    yet (a resumed replay finds them already noted); returns the names of those set aside
    now."""
    async with connection.transaction():
        # No writer may slip a contract in between the emptiness check and the drops.
        await connection.execute("LOCK TABLE contracts IN SHARE ROW EXCLUSIVE MODE")
        if await connection.fetchval("SELECT EXISTS (SELECT 1 FROM contracts)"):
            return []
        await connection.execute(
            f"CREATE TABLE IF NOT EXISTS {LEDGER} ("
            "step int, table_name text, name text, definition text NOT NULL,"
            " PRIMARY KEY (step, table_name, name))"
        )
        aside = [
            (step, row)
            for step, rows in enumerate(
                [
                    await connection.fetch(_DEFERRABLE_INDEXES, list(TABLES), list(KEPT)),
                    await connection.fetch(_DEFERRABLE_FOREIGN_KEYS, list(TABLES)),
                ]
            )
            for row in rows
        ]
        for step, row in aside:
            await connection.execute(
                f"INSERT INTO {LEDGER} (name, table_name, definition, step)"
                " VALUES ($1, $2, $3, $4)",
                row["name"],
                row["table_name"],
                row["definition"],
                step,
            )
            await connection.execute(row["removal"])
    names = [row["name"] for _, row in aside]
    if names:
        log.info(
            "indexes and foreign keys set aside until the replay ends", extra={"set_aside": names}
        )
    return names


async def restore_set_aside(pool: asyncpg.Pool, parallel: int = 2) -> list[str]:
    """Build every index, then every foreign key, noted as set aside, each in its own
    transaction, ``parallel`` at once (largest tables first); returns their names."""
    async with pool.acquire() as connection:
        if await connection.fetchval("SELECT to_regclass($1) IS NULL", LEDGER):
            return []
        noted = await connection.fetch(
            f"SELECT step, table_name, name, definition FROM {LEDGER}"
            " ORDER BY step, pg_relation_size(quote_ident(table_name)::regclass) DESC, name"
        )
    built: list[str] = []
    for step in sorted({row["step"] for row in noted}):
        queue = [row for row in noted if row["step"] == step]
        # Foreign keys lock both tables against each other: one at a time.
        workers = min(parallel if step == 0 else 1, len(queue))
        await _all_or_none(*(_build_from(queue, pool, built) for _ in range(workers)))
    async with pool.acquire() as connection:
        await connection.execute(f"DROP TABLE {LEDGER}")
    return built


async def _all_or_none(*jobs: Coroutine[Any, Any, None]) -> None:
    """Run ``jobs`` at once; the first to fail cancels the others (none keeps building in the
    background of a replay that has stopped) and its error is raised."""
    tasks = [asyncio.ensure_future(job) for job in jobs]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for task in done:
        task.result()


async def _build_from(queue: list[asyncpg.Record], pool: asyncpg.Pool, built: list[str]) -> None:
    async with pool.acquire() as connection:
        while queue:
            row = queue.pop(0)
            await _build(connection, row)
            built.append(row["name"])


async def _build(connection: DbConnection, noted: asyncpg.Record) -> None:
    name = noted["name"]
    started = time.perf_counter()
    async with connection.transaction():
        await connection.execute(f"SET LOCAL maintenance_work_mem = '{BUILD_MEMORY}'")
        await connection.execute(noted["definition"])
        await connection.execute(
            f"DELETE FROM {LEDGER} WHERE step = $1 AND table_name = $2 AND name = $3",
            noted["step"],
            noted["table_name"],
            name,
        )
    log.info(
        "set-aside index or foreign key built",
        extra={"built": name, "seconds": round(time.perf_counter() - started, 2)},
    )
