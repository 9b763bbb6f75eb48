"""``GET /v1/locations``: places by name, ranked, on real PostgreSQL, and read through the
trigram indexes of migration 0007 (no sequential scan) on tables of EVE's sizes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from common.db import asyncpg_dsn
from services.api.kit.explain import plan_nodes, top_plan
from services.api.location_schemas import LOCATION_KINDS
from services.api.location_search import search_arguments, search_statement
from services.api.settings import ApiSettings
from tests.integration.test_api_support import api_client, api_settings
from tests.support.places import (
    AMARR,
    AMARR_VIII,
    AMARR_VIII_NAME,
    DOMAIN,
    JITA,
    JITA_44,
    JITA_44_NAME,
    JITA_KEEPSTAR,
    JITA_STATION_2,
    PERIMETER,
    THE_FORGE,
    load_places,
)


@pytest.fixture
async def settings_with_places(database_url: str) -> ApiSettings:
    await load_places(database_url)
    return api_settings(database_url, cache_max_age_s=30)


async def _search(settings: ApiSettings, **params: Any) -> list[dict[str, Any]]:
    async with api_client(settings) as client:
        response = await client.get("/v1/locations", params=params)
    assert response.status_code == 200, response.text
    locations: list[dict[str, Any]] = response.json()["locations"]
    return locations


def _found(locations: list[dict[str, Any]]) -> list[tuple[str, int]]:
    return [(location["kind"], location["id"]) for location in locations]


async def test_jita_gives_the_system_then_its_stations_then_the_structure(
    settings_with_places: ApiSettings,
) -> None:
    locations = await _search(settings_with_places, q="Jita")
    # exact; then names starting with it: stations before structures, shorter names first
    assert _found(locations) == [
        ("system", JITA),
        ("station", JITA_STATION_2),
        ("station", JITA_44),
        ("structure", JITA_KEEPSTAR),
    ]
    system, _, station, structure = locations
    assert system == {
        "id": JITA, "name": "Jita", "kind": "system", "system_id": JITA, "system_name": "Jita",
        "region_id": THE_FORGE, "region_name": "The Forge", "security_status": 0.946,
    }  # fmt: skip
    assert station["name"] == JITA_44_NAME
    assert (station["system_id"], station["system_name"]) == (JITA, "Jita")
    assert (station["region_id"], station["region_name"]) == (THE_FORGE, "The Forge")
    assert station["security_status"] == 0.946
    assert structure["name"] == "Jita - Keepstar"
    assert structure["system_id"] is None
    assert structure["region_id"] is None
    # a character named like a place is not a place
    assert all(location["name"] != "Jita Trader" for location in locations)


async def test_ranks_exact_then_prefix_then_word_start_then_inside(
    settings_with_places: ApiSettings,
) -> None:
    amarr = await _search(settings_with_places, q="AMARR")
    assert _found(amarr) == [("system", AMARR), ("station", AMARR_VIII)]
    assert amarr[1]["name"] == AMARR_VIII_NAME
    assert (amarr[0]["region_id"], amarr[0]["region_name"]) == (DOMAIN, "Domain")
    forge = await _search(settings_with_places, q="forge")
    assert forge == [
        {"id": THE_FORGE, "name": "The Forge", "kind": "region", "system_id": None,
         "system_name": None, "region_id": THE_FORGE, "region_name": "The Forge",
         "security_status": None},
    ]  # fmt: skip
    # a word start ranks before a name that merely holds the text
    moon = await _search(settings_with_places, q="moon 4")
    assert _found(moon) == [("station", JITA_44)]
    inside = await _search(settings_with_places, q="imeter")
    assert _found(inside) == [("system", PERIMETER)]
    assert _found(await _search(settings_with_places, q="oris")) == [("station", AMARR_VIII)]


async def test_two_characters_find_the_names_starting_with_them(
    settings_with_places: ApiSettings,
) -> None:
    assert _found(await _search(settings_with_places, q="am")) == [
        ("system", AMARR),
        ("station", AMARR_VIII),
    ]
    assert _found(await _search(settings_with_places, q="Ji", kind="system")) == [("system", JITA)]
    assert await _search(settings_with_places, q="mo") == []  # only words inside: "Moon"
    assert await _search(settings_with_places, q="ma") == []  # only inside "Domain", "Amarr"


async def test_kind_and_limit(settings_with_places: ApiSettings) -> None:
    stations = await _search(settings_with_places, q="jita", kind="station")
    assert _found(stations) == [("station", JITA_STATION_2), ("station", JITA_44)]
    assert _found(await _search(settings_with_places, q="jita", limit=1)) == [("system", JITA)]
    regions = await _search(settings_with_places, q="do", kind="region")
    assert _found(regions) == [("region", DOMAIN)]
    assert await _search(settings_with_places, q="jita", kind="region") == []
    structures = await _search(settings_with_places, q="keepstar", kind="structure")
    assert _found(structures) == [("structure", JITA_KEEPSTAR)]


async def test_answers_are_cacheable(settings_with_places: ApiSettings) -> None:
    async with api_client(settings_with_places) as client:
        first = await client.get("/v1/locations", params={"q": "jita"})
        again = await client.get(
            "/v1/locations", params={"q": "jita"}, headers={"If-None-Match": first.headers["etag"]}
        )
    assert first.headers["cache-control"] == "public, max-age=30, stale-while-revalidate=30"
    assert again.status_code == 304


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"q": "j"}, 422), ({"q": "a" * 101}, 422), ({"q": "a" * 10_000}, 422),
        ({"q": "ji\x00ta"}, 422), ({"q": "   "}, 422), ({"q": "%%"}, 422), ({"q": "_%_"}, 422),
        ({"q": "a-b"}, 422), ({}, 422), ({"q": "jita", "limit": 0}, 422),
        ({"q": "jita", "limit": 51}, 422), ({"q": "jita", "kind": "planet"}, 422),
        ({"q": "jit%"}, 200), ({"q": "ji_a"}, 200), ({"q": "(jita)+"}, 200),
        ({"q": "ji\\"}, 200), ({"q": "ji("}, 200), ({"q": "%ji"}, 200), ({"q": "ji%"}, 200),
    ],
)  # fmt: skip
async def test_hostile_text_gets_a_422_or_a_correct_empty_answer(
    settings_with_places: ApiSettings, params: dict[str, Any], status: int
) -> None:
    async with api_client(settings_with_places) as client:
        response = await client.get("/v1/locations", params=params)
    assert response.status_code == status, response.text
    if status == 200:
        assert response.json() == {"locations": []}  # % and _ match themselves: no such name
    else:
        assert response.json()["error"]["code"] == "validation_error"


# --- indexes -----------------------------------------------------------------------------

#: EVE's sizes: ~100 regions, ~1,100 constellations, ~8,000 systems, ~5,000 NPC stations, and
#: many more characters and corporations than places in ``entity_names``.
GENERATE_PLACES = [
    """INSERT INTO entity_names (entity_id, name, category, resolved_at)
       SELECT 10000100 + r, 'Region ' || md5(r::text), 'region', now()
       FROM generate_series(1, 100) AS r""",
    """INSERT INTO entity_names (entity_id, name, category, resolved_at)
       SELECT 90000100 + c, 'Pilot ' || md5(c::text), 'character', now()
       FROM generate_series(1, 60000) AS c""",
    """INSERT INTO constellations (constellation_id, name, region_id, resolved_at)
       SELECT 20010000 + k, 'Constellation ' || md5(k::text), 10000101 + k % 100, now()
       FROM generate_series(0, 1099) AS k""",
    """INSERT INTO solar_systems (system_id, name, constellation_id, security_status,
                                  resolved_at)
       SELECT 31000000 + y, upper(left(md5(y::text), 6)), 20010000 + y % 1100,
              (y % 20 - 5) / 10.0, now()
       FROM generate_series(0, 7999) AS y""",
    """INSERT INTO stations (station_id, name, system_id, resolved_at)
       SELECT 61000000 + s, upper(left(md5(s::text), 6)) || ' IV - Moon ' || s % 20
                            || ' - ' || md5((s * 7)::text), 31000000 + s % 8000, now()
       FROM generate_series(0, 4999) AS s""",
]
PLACE_TABLES = ("entity_names", "constellations", "solar_systems", "stations")


@pytest.fixture
async def many_places(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    await load_places(database_url)
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        for statement in GENERATE_PLACES:
            await connection.execute(statement)
        for table in PLACE_TABLES:
            await connection.execute(f"ANALYZE {table}")
        yield connection
    finally:
        await connection.close()


async def test_location_search_reads_through_indexes(many_places: asyncpg.Connection) -> None:
    failures = []
    # Selective texts, as a search is typed. A text that most names hold ("moon": nearly every
    # station) is better read by a sequential scan of the few thousand rows, as the planner
    # does.
    for text in ("jita", "Jita IV - Moon", "forge", "ji", "am", "4 - mo", "keepstar"):
        for kind in (None, *LOCATION_KINDS):
            kinds = frozenset(LOCATION_KINDS if kind is None else (kind,))
            short, arguments = search_arguments(text, 10)
            plan = top_plan(
                await many_places.fetchval(
                    f"EXPLAIN (FORMAT JSON) {search_statement(short, kinds)}", *arguments
                )
            )
            scanned = {
                (node["Relation Name"], node["Node Type"])
                for node in plan_nodes(plan["Plan"])
                if "Relation Name" in node
            }
            assert scanned
            if any(node_type == "Seq Scan" for _, node_type in scanned):
                failures.append(f"{text!r}, {kind}: {sorted(scanned)}")
    assert failures == []
