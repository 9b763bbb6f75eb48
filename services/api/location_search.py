"""The SQL of place search by name (``GET /v1/locations`` and the pages' place picker).

Regions (and structures, when a name is known) come from ``entity_names``, systems from
``solar_systems``, stations from ``stations``; each is found through a trigram index on its
name (migration 0007). Ranked as the type autocomplete: the exact name, then names starting
with the text, then names with a word starting with it, then names holding it; within a rank
regions before systems before stations before structures, then shorter names first. Only the
winners are joined to their system, constellation and region. Every value is a bound
parameter; only the kinds (constants) are written into the text.

Two characters hold no trigram of the middle of a name: a two-character text finds names
*starting* with it ("ji": Jita and its stations), not words inside names ("mo" would be the
"Moon" of nearly every station).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import Any, Final

import asyncpg

from services.api.kit.like import LIKE_ESCAPE, like_escaped
from services.api.location_schemas import LOCATION_KINDS, LocationKind

#: kinds found in ``entity_names`` under their own name as ``category``
ENTITY_KINDS: Final = ("region", "structure")
KIND_ORDER: Final = {kind: order for order, kind in enumerate(LOCATION_KINDS)}
#: below this length a text is looked up as the start of names (see the module docstring)
CONTAINS_FROM: Final = 3
#: what starts a word inside a place's name: "Jita IV - Moon 4", "Amarr VIII (Oris)",
#: "Tash-Murkon Prime"
WORD_STARTS: Final = (" ", "(", "-")

# $1 the exact text, $2 'text%', $3.. '% text%' for each word start, then '%text%' (a longer
# text only), then the limit.
_ESCAPE: Final = f"ESCAPE '{LIKE_ESCAPE}'"
_WORDS: Final = range(3, 3 + len(WORD_STARTS))
_RANK: Final = f"""CASE WHEN lower(m.name) = $1 THEN 0
            WHEN lower(m.name) LIKE $2 {_ESCAPE} THEN 1
            WHEN {" OR ".join(f"lower(m.name) LIKE ${n} {_ESCAPE}" for n in _WORDS)} THEN 2
            ELSE 3 END"""


def _matches(column: str, short: bool) -> str:
    # A name's start is a trigram with a leading blank: two characters find it in the index.
    return f"{column} ILIKE ${2 if short else _WORDS.stop} {_ESCAPE}"


@cache
def search_statement(short: bool, kinds: frozenset[LocationKind]) -> str:
    """The statement for a short (word-start) or a longer text, over these kinds. Kinds are
    written into the text, so that the partial index on ``entity_names`` serves its branch."""
    limit = f"${_WORDS.stop if short else _WORDS.stop + 1}"
    branches = []
    categories = [kind for kind in ENTITY_KINDS if kind in kinds]
    if categories:
        listed = ", ".join(f"'{kind}'" for kind in categories)
        branches.append(  # every branch names its columns: any of them may come first
            f"""SELECT e.category AS kind,
               CASE e.category WHEN 'region' THEN {KIND_ORDER["region"]}
                    ELSE {KIND_ORDER["structure"]} END AS kind_order,
               e.entity_id AS id, e.name, NULL::bigint AS system_id,
               CASE e.category WHEN 'region' THEN e.entity_id END AS region_id
        FROM entity_names AS e
        WHERE e.category IN ({listed}) AND {_matches("e.name", short)}"""
        )
    if "system" in kinds:
        branches.append(
            f"""SELECT 'system' AS kind, {KIND_ORDER["system"]} AS kind_order, y.system_id AS id,
               y.name, y.system_id, NULL::bigint AS region_id
        FROM solar_systems AS y WHERE {_matches("y.name", short)}"""
        )
    if "station" in kinds:
        branches.append(
            f"""SELECT 'station' AS kind, {KIND_ORDER["station"]} AS kind_order,
               s.station_id AS id, s.name, s.system_id, NULL::bigint AS region_id
        FROM stations AS s WHERE {_matches("s.name", short)}"""
        )
    union = "\n        UNION ALL\n        ".join(branches)
    return f"""
WITH found AS (
    SELECT m.kind, m.kind_order, m.id, m.name, m.system_id, m.region_id, {_RANK} AS rank
    FROM (
        {union}
    ) AS m
    ORDER BY rank, m.kind_order, length(m.name), m.name, m.id
    LIMIT {limit}
)
SELECT f.id, f.name, f.kind, y.system_id, y.name AS system_name,
       coalesce(c.region_id, f.region_id) AS region_id, r.name AS region_name,
       y.security_status
FROM found AS f
LEFT JOIN solar_systems AS y ON y.system_id = f.system_id
LEFT JOIN constellations AS c ON c.constellation_id = y.constellation_id
LEFT JOIN entity_names AS r ON r.entity_id = coalesce(c.region_id, f.region_id)
ORDER BY f.rank, f.kind_order, length(f.name), f.name, f.id
"""


def search_arguments(text: str, limit: int) -> tuple[bool, list[Any]]:
    """Whether ``text`` is short, and the statement's arguments for it."""
    wanted = " ".join(text.lower().split())
    escaped = like_escaped(wanted)
    short = len(wanted) < CONTAINS_FROM
    words = [f"%{like_escaped(start)}{escaped}%" for start in WORD_STARTS]
    contains = [] if short else [f"%{escaped}%"]
    return short, [wanted, f"{escaped}%", *words, *contains, limit]


async def search_locations(
    connection: asyncpg.Connection,
    text: str,
    limit: int,
    kinds: Iterable[LocationKind] = LOCATION_KINDS,
) -> list[dict[str, Any]]:
    """Places whose name matches ``text`` (case-insensitive), best first."""
    short, arguments = search_arguments(text, limit)
    rows = await connection.fetch(search_statement(short, frozenset(kinds)), *arguments)
    return [dict(row) for row in rows]
