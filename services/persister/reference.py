"""Applying reference messages: types newer than the SDE, locations and names from ESI.

Set-based upserts, idempotent and order-free: an SDE row is never overwritten by ESI's (a
newer SDE build that knows an id takes it over, see ``common.sde.loader``); for locations and
names the newest ``resolved_at`` wins. Then the derived fields of exactly the contracts that
use the written entries are computed again. The caller owns the transaction.
"""

from __future__ import annotations

from typing import Final

from common.db import SOURCE_ESI
from common.derived_fields import DERIVE_FOR_LOCATIONS, DERIVE_FOR_TYPES, lock_reference_data
from common.messages import ReferenceData
from services.persister.repository import ApplyResult, DbConnection

_ESI_ONLY: Final = f"t.source = '{SOURCE_ESI}'"

_UPSERT_CATEGORIES: Final = f"""
INSERT INTO item_categories AS t (category_id, name, published, source)
SELECT n.id, n.name, n.published, '{SOURCE_ESI}'
FROM unnest($1::int[], $2::text[], $3::boolean[]) AS n(id, name, published)
ON CONFLICT (category_id) DO UPDATE SET name = EXCLUDED.name, published = EXCLUDED.published
WHERE {_ESI_ONLY} AND (t.name, t.published) IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.published)
"""

_UPSERT_GROUPS: Final = f"""
INSERT INTO item_groups AS t (group_id, name, category_id, published, source)
SELECT n.id, n.name, n.category_id, n.published, '{SOURCE_ESI}'
FROM unnest($1::int[], $2::text[], $3::int[], $4::boolean[])
    AS n(id, name, category_id, published)
ON CONFLICT (group_id) DO UPDATE SET
    name = EXCLUDED.name, category_id = EXCLUDED.category_id, published = EXCLUDED.published
WHERE {_ESI_ONLY} AND (t.name, t.category_id, t.published)
    IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.category_id, EXCLUDED.published)
"""

_UPSERT_TYPES: Final = f"""
INSERT INTO item_types AS t (
    type_id, name, group_id, category_id, published, market_group_id, meta_group_id, volume,
    source)
SELECT n.id, n.name, n.group_id, n.category_id, n.published, n.market_group_id, NULL,
    n.volume, '{SOURCE_ESI}'
FROM unnest($1::bigint[], $2::text[], $3::int[], $4::int[], $5::boolean[], $6::int[],
            $7::float8[]) AS n(id, name, group_id, category_id, published, market_group_id, volume)
ON CONFLICT (type_id) DO UPDATE SET
    name = EXCLUDED.name, group_id = EXCLUDED.group_id, category_id = EXCLUDED.category_id,
    published = EXCLUDED.published, market_group_id = EXCLUDED.market_group_id,
    volume = EXCLUDED.volume
WHERE {_ESI_ONLY} AND (t.name, t.group_id, t.category_id, t.published, t.market_group_id,
                       t.volume)
    IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.group_id, EXCLUDED.category_id,
                      EXCLUDED.published, EXCLUDED.market_group_id, EXCLUDED.volume)
RETURNING t.type_id
"""

_UPSERT_CONSTELLATIONS: Final = """
INSERT INTO constellations AS t (constellation_id, name, region_id, resolved_at)
SELECT n.id, n.name, n.region_id, $4
FROM unnest($1::bigint[], $2::text[], $3::bigint[]) AS n(id, name, region_id)
ON CONFLICT (constellation_id) DO UPDATE SET
    name = EXCLUDED.name, region_id = EXCLUDED.region_id, resolved_at = EXCLUDED.resolved_at
WHERE t.resolved_at < EXCLUDED.resolved_at
"""

_UPSERT_SYSTEMS: Final = """
INSERT INTO solar_systems AS t (system_id, name, constellation_id, security_status, resolved_at)
SELECT n.id, n.name, n.constellation_id, n.security, $5
FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::float8[])
    AS n(id, name, constellation_id, security)
ON CONFLICT (system_id) DO UPDATE SET
    name = EXCLUDED.name, constellation_id = EXCLUDED.constellation_id,
    security_status = EXCLUDED.security_status, resolved_at = EXCLUDED.resolved_at
WHERE t.resolved_at < EXCLUDED.resolved_at
"""

_UPSERT_STATIONS: Final = """
INSERT INTO stations AS t (station_id, name, system_id, resolved_at)
SELECT n.id, n.name, n.system_id, $4
FROM unnest($1::bigint[], $2::text[], $3::bigint[]) AS n(id, name, system_id)
ON CONFLICT (station_id) DO UPDATE SET
    name = EXCLUDED.name, system_id = EXCLUDED.system_id, resolved_at = EXCLUDED.resolved_at
WHERE t.resolved_at < EXCLUDED.resolved_at
RETURNING t.station_id AS id
"""

_UPSERT_NAMES: Final = """
INSERT INTO entity_names AS t (entity_id, name, category, resolved_at)
SELECT n.id, n.name, n.category, $4
FROM unnest($1::bigint[], $2::text[], $3::text[]) AS n(id, name, category)
ON CONFLICT (entity_id) DO UPDATE SET
    name = EXCLUDED.name, category = EXCLUDED.category, resolved_at = EXCLUDED.resolved_at
WHERE t.resolved_at < EXCLUDED.resolved_at
RETURNING t.entity_id AS id
"""


async def apply_reference(connection: DbConnection, message: ReferenceData) -> ApplyResult:
    await lock_reference_data(connection, exclusive=True)
    if message.categories:
        c = message.categories
        await connection.execute(
            _UPSERT_CATEGORIES,
            [x.category_id for x in c],
            [x.name for x in c],
            [x.published for x in c],
        )
    if message.groups:
        g = message.groups
        await connection.execute(
            _UPSERT_GROUPS,
            [x.group_id for x in g],
            [x.name for x in g],
            [x.category_id for x in g],
            [x.published for x in g],
        )
    if message.types:
        t = message.types
        changed = await connection.fetch(
            _UPSERT_TYPES,
            [x.type_id for x in t],
            [x.name for x in t],
            [x.group_id for x in t],
            [x.category_id for x in t],
            [x.published for x in t],
            [x.market_group_id for x in t],
            [x.volume for x in t],
        )
        if changed:
            await connection.execute(DERIVE_FOR_TYPES, [row["type_id"] for row in changed])
    if message.constellations:
        k = message.constellations
        await connection.execute(
            _UPSERT_CONSTELLATIONS,
            [x.constellation_id for x in k],
            [x.name for x in k],
            [x.region_id for x in k],
            message.resolved_at,
        )
    if message.systems:
        s = message.systems
        await connection.execute(
            _UPSERT_SYSTEMS,
            [x.system_id for x in s],
            [x.name for x in s],
            [x.constellation_id for x in s],
            [x.security_status for x in s],
            message.resolved_at,
        )
    located: list[int] = []
    if message.stations:
        st = message.stations
        rows = await connection.fetch(
            _UPSERT_STATIONS,
            [x.station_id for x in st],
            [x.name for x in st],
            [x.system_id for x in st],
            message.resolved_at,
        )
        located.extend(row["id"] for row in rows)
    if message.names:
        n = message.names
        rows = await connection.fetch(
            _UPSERT_NAMES,
            [x.id for x in n],
            [x.name for x in n],
            [x.category for x in n],
            message.resolved_at,
        )
        located.extend(row["id"] for row in rows)
    if located:
        await connection.execute(DERIVE_FOR_LOCATIONS, located)
    return ApplyResult()
