"""Names beside ids in answers: a page's locations, regions and parties, an item list's types,
and the type autocomplete. One statement per page (not per row); ids never resolved stay
without a name (``null``), player structures are labelled by their id."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

import asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection

from common.db import FIRST_STRUCTURE_ID, SHIP_CATEGORY_ID
from services.api.kit.like import like_escaped
from services.api.name_filters import WORD_START, regex_literal, search_pattern
from services.api.system_security import displayed_security, security_class

#: Each id's name; for a station, its system, constellation and region (names where known).
_ENTITY_NAMES: Final = """
SELECT n.id, coalesce(s.name, e.name) AS name, s.system_id, y.name AS system_name,
       y.security_status, k.name AS constellation_name, r.name AS system_region_name
FROM unnest($1::bigint[]) AS n(id)
LEFT JOIN stations AS s ON s.station_id = n.id
LEFT JOIN entity_names AS e ON e.entity_id = n.id
LEFT JOIN solar_systems AS y ON y.system_id = s.system_id
LEFT JOIN constellations AS k ON k.constellation_id = y.constellation_id
LEFT JOIN entity_names AS r ON r.entity_id = k.region_id
"""

_TYPE_NAMES: Final = """
SELECT t.type_id, t.name AS type_name, t.group_id, g.name AS group_name, t.category_id,
       k.name AS category_name
FROM item_types AS t
LEFT JOIN item_groups AS g ON g.group_id = t.group_id
LEFT JOIN item_categories AS k ON k.category_id = t.category_id
WHERE t.type_id = ANY($1::bigint[])
"""

_TYPE_COLUMNS: Final = f"""t.type_id, t.name, t.published,
       t.category_id = {SHIP_CATEGORY_ID} AS is_ship, t.group_id, t.category_id"""

#: Ranked: the exact name (0), then names starting with the text (1), then names where a word
#: starts with it, the contract search's rule (2), then names holding it (3); within a rank
#: published types first, then shorter names. Names starting with the text come from the
#: prefix index, sorted apart; the names holding it (the trigram index) are read and ranked
#: only when those fill fewer than ``limit`` places. A short text held by thousands of names
#: ("ser", "ski") mostly starts hundreds of them, so the larger set is seldom read. A word
#: starting after a space is found by ``LIKE`` before the regular expression, which any
#: other character before it needs.
TYPE_SEARCH: Final = f"""
WITH starting AS MATERIALIZED (
    SELECT {_TYPE_COLUMNS}, CASE WHEN t.name_lower = $2 THEN 0 ELSE 1 END AS rank
    FROM item_types AS t
    WHERE t.name_lower LIKE $3 ESCAPE '/'
    ORDER BY rank, t.published DESC, length(t.name), t.name, t.type_id
    LIMIT $5
), holding AS (
    SELECT {_TYPE_COLUMNS},
           CASE WHEN t.name_lower LIKE $6 ESCAPE '/' OR t.name_lower ~ $4 THEN 2 ELSE 3 END
               AS rank
    FROM item_types AS t
    WHERE t.name_lower LIKE $1 ESCAPE '/' AND t.name_lower NOT LIKE $3 ESCAPE '/'
      AND (SELECT count(*) FROM starting) < $5
    ORDER BY rank, t.published DESC, length(t.name), t.name, t.type_id
    LIMIT $5
)
SELECT t.type_id, t.name, t.published, t.is_ship, t.group_id, g.name AS group_name,
       t.category_id, k.name AS category_name
FROM (SELECT * FROM starting UNION ALL SELECT * FROM holding) AS t
LEFT JOIN item_groups AS g ON g.group_id = t.group_id
LEFT JOIN item_categories AS k ON k.category_id = t.category_id
ORDER BY t.rank, t.published DESC, length(t.name), t.name, t.type_id
LIMIT $5
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
    """Add the names of each row's region, locations and parties, and of the start and end
    stations' systems, constellations and regions, with the start system's security."""
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

    def place(identifier: int | None) -> asyncpg.Record | None:
        return None if identifier is None else found.get(identifier)

    # Keys in the response model's field order: the list's JSON is written from these dicts.
    for row in rows:
        start, end = row.get("start_location_id"), row.get("end_location_id")
        station, destination = place(start), place(end)
        security = _field(station, "security_status")
        row["region_name"] = name(row.get("region_id"))
        row["start_location_name"] = None if start is None else _location_label(start, found)
        row["end_location_name"] = None if end is None else _location_label(end, found)
        row["start_system_id"] = _field(station, "system_id")
        row["start_system_name"] = _field(station, "system_name")
        row["issuer_name"] = name(row.get("issuer_id"))
        row["issuer_corporation_name"] = name(row.get("issuer_corporation_id"))
        row["start_constellation_name"] = _field(station, "constellation_name")
        row["start_region_name"] = _field(station, "system_region_name")
        row["start_security_status"] = None if security is None else displayed_security(security)
        row["start_security_class"] = None if security is None else security_class(security)
        row["end_system_id"] = _field(destination, "system_id")
        row["end_system_name"] = _field(destination, "system_name")
        row["end_constellation_name"] = _field(destination, "constellation_name")
        row["end_region_name"] = _field(destination, "system_region_name")


def _field(record: asyncpg.Record | None, name: str) -> Any:
    return None if record is None else record[name]


async def add_item_names(connection: asyncpg.Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Add each item's type, group and category names (null for a type not known)."""
    type_ids: Iterable[int] = sorted({row["type_id"] for row in rows})
    found = {r["type_id"]: r for r in await connection.fetch(_TYPE_NAMES, list(type_ids))}
    for row in rows:
        known = found.get(row["type_id"])
        for field in ("type_name", "group_id", "group_name", "category_id", "category_name"):
            row[field] = None if known is None else known[field]


def type_search_arguments(text: str, limit: int) -> tuple[str, str, str, str, int, str]:
    """:data:`TYPE_SEARCH`'s arguments for ``text`` (lower-cased, whitespace collapsed)."""
    pattern = search_pattern(text)
    starting = pattern[1:]  # "text%"
    exact = " ".join(text.lower().split())
    word_start = WORD_START + regex_literal(exact)
    after_space = f"% {like_escaped(exact)}%"
    return pattern, exact, starting, word_start, limit, after_space


async def search_types(
    connection: asyncpg.Connection, text: str, limit: int
) -> list[dict[str, Any]]:
    rows = await connection.fetch(TYPE_SEARCH, *type_search_arguments(text, limit))
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
