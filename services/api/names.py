"""Names beside ids in answers: a page's locations, regions and parties, an item list's types,
and the type autocomplete. One statement per page (not per row); ids never resolved stay
without a name (``null``), player structures are labelled by their id."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

import asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection

from common.db import FIRST_STRUCTURE_ID, SHIP_CATEGORY_ID
from services.api.name_filters import search_pattern

_ENTITY_NAMES: Final = """
SELECT n.id, coalesce(s.name, e.name) AS name, s.system_id, y.name AS system_name
FROM unnest($1::bigint[]) AS n(id)
LEFT JOIN stations AS s ON s.station_id = n.id
LEFT JOIN entity_names AS e ON e.entity_id = n.id
LEFT JOIN solar_systems AS y ON y.system_id = s.system_id
"""

_TYPE_NAMES: Final = """
SELECT t.type_id, t.name AS type_name, t.group_id, g.name AS group_name, t.category_id,
       k.name AS category_name
FROM item_types AS t
LEFT JOIN item_groups AS g ON g.group_id = t.group_id
LEFT JOIN item_categories AS k ON k.category_id = t.category_id
WHERE t.type_id = ANY($1::bigint[])
"""

#: Ranked: the exact name, then names starting with the text, then names holding it; within a
#: rank published types first, then shorter names. The trigram index finds the candidates.
_TYPE_SEARCH: Final = f"""
SELECT t.type_id, t.name, t.published, t.category_id = {SHIP_CATEGORY_ID} AS is_ship,
       t.group_id, g.name AS group_name, t.category_id, k.name AS category_name
FROM item_types AS t
LEFT JOIN item_groups AS g ON g.group_id = t.group_id
LEFT JOIN item_categories AS k ON k.category_id = t.category_id
WHERE t.name ILIKE $1 ESCAPE '/'
ORDER BY CASE WHEN lower(t.name) = $2 THEN 0 WHEN lower(t.name) LIKE $3 ESCAPE '/' THEN 1
              ELSE 2 END,
         t.published DESC, length(t.name), t.name, t.type_id
LIMIT $4
"""


def _location_label(location_id: int, found: Mapping[int, asyncpg.Record]) -> str | None:
    row = found.get(location_id)
    if row is not None and row["name"] is not None:
        name: str = row["name"]
        return name
    if location_id >= FIRST_STRUCTURE_ID:
        return f"Structure {location_id}"
    return None


async def add_contract_names(
    connection: asyncpg.Connection, rows: Sequence[dict[str, Any]]
) -> None:
    """Add the names of each row's region, locations (and start system) and parties."""
    ids: set[int] = set()
    for row in rows:
        ids.update(
            i
            for i in (
                row.get("region_id"),
                row.get("start_location_id"),
                row.get("end_location_id"),
                row.get("issuer_id"),
                row.get("issuer_corporation_id"),
            )
            if i is not None
        )
    found = {r["id"]: r for r in await connection.fetch(_ENTITY_NAMES, sorted(ids))} if ids else {}

    def name(identifier: int | None) -> str | None:
        if identifier is None or (row := found.get(identifier)) is None:
            return None
        text: str | None = row["name"]
        return text

    for row in rows:
        start, end = row.get("start_location_id"), row.get("end_location_id")
        station = found.get(start) if start is not None else None
        row["region_name"] = name(row.get("region_id"))
        row["start_location_name"] = None if start is None else _location_label(start, found)
        row["end_location_name"] = None if end is None else _location_label(end, found)
        row["start_system_id"] = None if station is None else station["system_id"]
        row["start_system_name"] = None if station is None else station["system_name"]
        row["issuer_name"] = name(row.get("issuer_id"))
        row["issuer_corporation_name"] = name(row.get("issuer_corporation_id"))


async def add_item_names(connection: asyncpg.Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Add each item's type, group and category names (null for a type not known)."""
    type_ids: Iterable[int] = sorted({row["type_id"] for row in rows})
    found = {r["type_id"]: r for r in await connection.fetch(_TYPE_NAMES, list(type_ids))}
    for row in rows:
        known = found.get(row["type_id"])
        for field in ("type_name", "group_id", "group_name", "category_id", "category_name"):
            row[field] = None if known is None else known[field]


async def search_types(
    connection: asyncpg.Connection, text: str, limit: int
) -> list[dict[str, Any]]:
    pattern = search_pattern(text)
    prefix = pattern[1:]  # "word%": starts with the text
    exact = " ".join(text.lower().split())
    rows = await connection.fetch(_TYPE_SEARCH, pattern, exact, prefix, limit)
    return [dict(row) for row in rows]


async def add_detail_names(
    session: AsyncConnection, contract: dict[str, Any], contract_items: Sequence[dict[str, Any]]
) -> None:
    """:func:`add_contract_names` and :func:`add_item_names` on the session's connection."""
    raw = await session.get_raw_connection()
    driver = raw.driver_connection
    assert isinstance(driver, asyncpg.Connection)
    await add_contract_names(driver, [contract])
    if contract_items:
        await add_item_names(driver, contract_items)
