"""What contracts hold, by name: the trader's questions, type autocomplete, names in answers.

The contracts land through the persister's apply code (which derives their fields), on a
database holding the SDE catalog; locations and parties arrive as a reference message.
"""

from __future__ import annotations

import re
from typing import Any

import asyncpg
import pytest
import redis.asyncio as aioredis

from common.db import asyncpg_dsn
from common.esi_models import EsiItem
from common.messages import (
    ContractWithItems,
    ReferenceConstellation,
    ReferenceData,
    ReferenceName,
    ReferenceStation,
    ReferenceSystem,
)
from common.settings import HangarSettings
from services.api.name_filters import word_search_params
from services.api.settings import ApiSettings
from services.persister.reference import apply_reference
from services.persister.repository import apply_contracts
from tests.integration.test_api_support import api_client, api_settings, ids
from tests.support import factories as f

JITA_SYSTEM, AMARR_SYSTEM = 30000142, 30002187
JITA_STATION, AMARR_STATION = 60003760, 60008494
THE_FORGE, DOMAIN = 10000002, 10000043
KIMOTORO, THRONE_WORLDS = 20000020, 20000322
VEXOR_NAVY_ISSUE, VEXOR, RIFTER_BLUEPRINT = 17843, 626, 691
ISSUER = 90000001


def _contract(
    contract_id: int, items: list[tuple[int, dict[str, Any]]], **fields: Any
) -> ContractWithItems:
    return f.contract(contract_id, items=0).model_copy(
        update={
            "items": [
                EsiItem(record_id=contract_id * 100 + n, type_id=type_id, quantity=1,
                        is_included=True, **extra)
                for n, (type_id, extra) in enumerate(items)
            ],
            **fields,
        }
    )  # fmt: skip


def _bpc(me: int, runs: int) -> tuple[int, dict[str, Any]]:
    return RIFTER_BLUEPRINT, {
        "is_blueprint_copy": True,
        "material_efficiency": me,
        "time_efficiency": 10,
        "runs": runs,
    }


def _courier(contract_id: int, start: int, reward: float, volume: float) -> ContractWithItems:
    return _contract(
        contract_id, [], type="courier", price=0.0, reward=reward, volume=volume,
        start_location_id=start,
        end_location_id=AMARR_STATION if start == JITA_STATION else JITA_STATION,
    )  # fmt: skip


WORLD = [
    _contract(1, [(VEXOR_NAVY_ISSUE, {})], price=55e6, start_location_id=JITA_STATION),
    _contract(2, [(VEXOR_NAVY_ISSUE, {})], price=70e6, start_location_id=JITA_STATION),
    _contract(3, [(VEXOR_NAVY_ISSUE, {})], price=50e6, start_location_id=AMARR_STATION),
    _contract(4, [(VEXOR, {})], price=40e6, start_location_id=JITA_STATION),
    _contract(5, [_bpc(10, 5)], price=1e6, start_location_id=JITA_STATION),
    _contract(6, [_bpc(6, 20), (34, {})], price=2e6, start_location_id=JITA_STATION),
    _contract(7, [(RIFTER_BLUEPRINT, {"material_efficiency": 10, "runs": -1})], price=3e6),
    _contract(8, [_bpc(7, 1), _bpc(9, 100)], price=4e6, start_location_id=JITA_STATION),
    _courier(9, JITA_STATION, reward=10e6, volume=10_000.0),
    _courier(10, JITA_STATION, reward=5e6, volume=1_000.0),
    _courier(11, AMARR_STATION, reward=100e6, volume=1_000.0),
]

PLACES = ReferenceData(
    resolved_at=f.BASE_TIME,
    stations=[
        ReferenceStation(station_id=JITA_STATION, system_id=JITA_SYSTEM,
                         name="Jita IV - Moon 4 - Caldari Navy Assembly Plant"),
        ReferenceStation(station_id=AMARR_STATION, system_id=AMARR_SYSTEM,
                         name="Amarr VIII (Oris) - Emperor Family Academy"),
    ],
    systems=[
        ReferenceSystem(system_id=JITA_SYSTEM, name="Jita", constellation_id=KIMOTORO,
                        security_status=0.9459),
        ReferenceSystem(system_id=AMARR_SYSTEM, name="Amarr", constellation_id=THRONE_WORLDS,
                        security_status=1.0),
    ],
    constellations=[
        ReferenceConstellation(constellation_id=KIMOTORO, name="Kimotoro", region_id=THE_FORGE),
        ReferenceConstellation(constellation_id=THRONE_WORLDS, name="Throne Worlds",
                               region_id=DOMAIN),
    ],
    names=[
        ReferenceName(id=THE_FORGE, name="The Forge", category="region"),
        ReferenceName(id=DOMAIN, name="Domain", category="region"),
        ReferenceName(id=ISSUER, name="Trader Joe", category="character"),
    ],
)  # fmt: skip


@pytest.fixture
async def settings_with_world(database_url: str) -> ApiSettings:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        async with connection.transaction():
            await apply_contracts(connection, [f.batch(WORLD)])
        async with connection.transaction():
            await apply_reference(connection, PLACES)
    finally:
        await connection.close()
    return api_settings(database_url, cache_max_age_s=0)


async def _list(settings: ApiSettings, **params: Any) -> list[int]:
    async with api_client(settings) as client:
        return ids(await client.get("/v1/contracts", params=params))


async def test_vexor_navy_issue_in_jita_under_60m(settings_with_world: ApiSettings) -> None:
    params: dict[str, Any] = {"q": "vexor navy", "system_id": JITA_SYSTEM, "max_price": 60e6}
    async with api_client(settings_with_world) as client:
        response = await client.get("/v1/contracts", params=params)
    assert ids(response) == [1]
    row = response.json()["items"][0]
    assert row["primary_label"] == "Vexor Navy Issue"
    assert row["is_ship"] is True
    assert row["start_location_name"] == "Jita IV - Moon 4 - Caldari Navy Assembly Plant"
    assert (row["start_system_id"], row["start_system_name"]) == (JITA_SYSTEM, "Jita")
    assert row["region_name"] == "The Forge"
    assert row["issuer_name"] == "Trader Joe"
    assert row["issuer_corporation_name"] is None  # never resolved: no name, no failure
    # without the price bound, sorted by price; without the system, Amarr's too
    assert await _list(settings_with_world, q="VEXOR NAVY", sort="price", order="asc") == [3, 1, 2]
    assert await _list(settings_with_world, q="vexor", system_id=JITA_SYSTEM, sort="price",
                       order="asc") == [4, 1, 2]  # fmt: skip


async def test_blueprint_copies_with_me_at_least_8(settings_with_world: ApiSettings) -> None:
    assert await _list(settings_with_world, bpc=True, min_me=8) == [8, 5]
    # all bounds on one and the same copy: 8 holds ME 9 with 100 runs, and ME 7 with 1 run
    assert await _list(settings_with_world, bpc=True, min_me=8, max_runs=10) == [5]
    assert await _list(settings_with_world, min_me=7, max_me=7) == [8]
    assert await _list(settings_with_world, min_runs=10, max_me=6) == [6]
    assert sorted(await _list(settings_with_world, bpc=False, ship=False)) == [
        7, 9, 10, 11
    ]  # fmt: skip


async def test_couriers_out_of_jita_by_reward_per_m3(settings_with_world: ApiSettings) -> None:
    params: dict[str, Any] = {"type": "courier", "system_id": JITA_SYSTEM, "sort": "reward_per_m3"}
    async with api_client(settings_with_world) as client:
        response = await client.get("/v1/contracts", params={**params, "order": "desc"})
        assert ids(response) == [10, 9]
        rows = response.json()["items"]
        assert [r["reward_per_m3"] for r in rows] == [5000.0, 1000.0]
        assert rows[0]["primary_label"] == (
            "Courier: Jita IV - Moon 4 - Caldari Navy Assembly Plant"
            " → Amarr VIII (Oris) - Emperor Family Academy"
        )
        # paging by the new sort key
        first = await client.get("/v1/contracts", params={**params, "order": "desc", "limit": 1})
        cursor = first.json()["next_cursor"]
        second = await client.get(
            "/v1/contracts", params={**params, "order": "desc", "limit": 1, "cursor": cursor}
        )
        assert ids(first) + ids(second) == [10, 9]
    assert await _list(settings_with_world, min_reward_per_m3=2000, type="courier") == [11, 10]


async def test_category_and_group_filters(settings_with_world: ApiSettings) -> None:
    ships = await _list(settings_with_world, category_id=6)
    assert sorted(ships) == [1, 2, 3, 4]
    assert sorted(await _list(settings_with_world, ship=True)) == [1, 2, 3, 4]
    assert sorted(await _list(settings_with_world, category_id=9)) == [5, 6, 7, 8]
    assert sorted(await _list(settings_with_world, group_id=26)) == [1, 2, 3, 4]  # Cruiser


async def test_a_detail_names_its_items(settings_with_world: ApiSettings) -> None:
    async with api_client(settings_with_world) as client:
        response = await client.get("/v1/contracts/6")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["primary_label"] == "Rifter Blueprint"
    assert body["has_bpc"] is True
    assert (body["bpc_me_min"], body["bpc_me_max"], body["bpc_runs_max"]) == (6, 6, 20)
    named = {i["type_id"]: (i["type_name"], i["category_name"]) for i in body["items"]}
    assert named == {
        RIFTER_BLUEPRINT: ("Rifter Blueprint", "Blueprint"),
        34: ("Tritanium", "Material"),
    }


async def test_type_autocomplete_ranks_the_ship_first(settings_with_world: ApiSettings) -> None:
    async with api_client(settings_with_world) as client:
        response = await client.get("/v1/types", params={"q": "vexor navy", "limit": 5})
        assert response.status_code == 200, response.text
        types = response.json()["types"]
        assert types[0]["name"] == "Vexor Navy Issue"
        assert types[0]["is_ship"] is True
        assert types[0]["category_name"] == "Ship"
        assert all("vexor navy" in t["name"].lower() for t in types)
        exact = (await client.get("/v1/types", params={"q": "Rifter"})).json()["types"]
        assert exact[0]["name"] == "Rifter"
        assert [t["name"] for t in exact[1:3]] == sorted(
            [t["name"] for t in exact[1:3]], key=lambda n: (len(n), n)
        )
        # a word starting with the text ranks above the text inside a word
        for text in ("navy issue", "navy", "ifter"):
            found = (await client.get("/v1/types", params={"q": text, "limit": 50})).json()
            names = [t["name"].lower() for t in found["types"]]
            assert names, text
            ranks = [
                0 if name == text else 1 if name.startswith(text)
                else 2 if re.search(rf"(^|[^a-z0-9]){re.escape(text)}", name) else 3
                for name in names
            ]  # fmt: skip
            assert ranks == sorted(ranks), (text, names)
        navy_issues = (
            await client.get("/v1/types", params={"q": "navy issue", "limit": 50})
        ).json()["types"]
        assert "Vexor Navy Issue" in [t["name"] for t in navy_issues]


@pytest.mark.parametrize(
    ("q", "contracts_status", "types_status"),
    [("%%%", 422, 422), ("___", 422, 422), (".*(x+)+$", 422, 422), ("a" * 10_000, 422, 422),
     ("a\x00b", 422, 422), ("ab", 422, 422), ("   ", 422, 422), ("a b c d", 422, 422),
     ("vexor%", 200, 200), ("vexor_navy", 200, 200), ("vexor.*", 200, 200),
     ("vexor\\", 200, 200), ("\\vexor", 200, 200), ("(vexor|rifter)", 200, 200),
     ("[[:alpha:]]+navy", 200, 200), ("navy$", 200, 200), ("^vexor", 200, 200),
     ("vexor{1,2}", 200, 200), ("***=vexor", 200, 200), ("(?i)vexor", 200, 200),
     ("\\mvexor", 200, 200)],
)  # fmt: skip
async def test_hostile_search_text(
    settings_with_world: ApiSettings, q: str, contracts_status: int, types_status: int
) -> None:
    """Wildcards and regular-expression syntax match themselves (no type name or contract holds
    them): an empty answer, never a 500. Without a run of 3 letters or digits both searches
    (each needs its trigram index) refuse the text, and say why."""
    async with api_client(settings_with_world) as client:
        for path, status in (("/v1/contracts", contracts_status), ("/v1/types", types_status)):
            response = await client.get(path, params={"q": q})
            assert response.status_code == status, (path, response.text)
            if status == 422 and len(q) == 3:
                [detail] = response.json()["error"]["details"]
                assert detail["message"] == "q needs a run of at least 3 letters or digits"
            if status == 200:
                body = response.json()
                assert body.get("items", body.get("types")) == []


# --- word-prefix search, market groups, security, facets, place names, taxonomy -------------

BORDER_SYSTEM, LOW_SYSTEM, EDGE_SYSTEM, ZERO_SYSTEM, NULL_SYSTEM = range(31000001, 31000006)
STRUCTURE = 1_000_000_000_123
#: contract id -> (station id, system id, true security status)
SPACE: dict[int, tuple[int, int, float]] = {
    21: (61000001, BORDER_SYSTEM, 0.45),  # shows 0.5: high sec
    22: (61000002, LOW_SYSTEM, 0.449),  # shows 0.4
    23: (61000003, EDGE_SYSTEM, 0.04),  # positive: shows 0.1, low sec
    24: (61000004, ZERO_SYSTEM, 0.0),
    25: (61000005, NULL_SYSTEM, -0.3),
}
SPACE_PLACES = ReferenceData(
    resolved_at=f.BASE_TIME,
    stations=[
        ReferenceStation(station_id=station, system_id=system, name=f"Station {contract_id}")
        for contract_id, (station, system, _) in SPACE.items()
    ],
    systems=[
        ReferenceSystem(system_id=system, name=f"System {contract_id}", constellation_id=KIMOTORO,
                        security_status=security)
        for contract_id, (_, system, security) in SPACE.items()
    ],
)  # fmt: skip
SPACE_CONTRACTS = [
    _contract(contract_id, [(34, {})], start_location_id=station, end_location_id=station,
              title="Cheap (Rifter) 100% safe" if contract_id == 21 else "")
    for contract_id, (station, _, _) in SPACE.items()
] + [_contract(26, [(34, {})], start_location_id=STRUCTURE)]  # fmt: skip
HIGHSEC_WORLD = [c.contract_id for c in WORLD]


async def _apply(
    database_url: str, contracts: list[ContractWithItems], places: ReferenceData
) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        async with connection.transaction():
            await apply_contracts(connection, [f.batch(contracts)])
        async with connection.transaction():
            await apply_reference(connection, places)
    finally:
        await connection.close()


@pytest.fixture
async def settings_with_space(settings_with_world: ApiSettings) -> ApiSettings:
    await _apply(settings_with_world.database_url, SPACE_CONTRACTS, SPACE_PLACES)
    return settings_with_world


async def test_search_finds_text_where_a_word_starts(settings_with_space: ApiSettings) -> None:
    async def found(q: str) -> list[int]:
        return sorted(await _list(settings_with_space, q=q))

    assert await found("vexor navy") == [1, 2, 3]
    assert await found("Navy  Issue") == [1, 2, 3]  # case and spaces do not matter
    assert await found("vexor") == [1, 2, 3, 4]
    assert await found("exor") == []  # inside a word
    assert await found("avy issue") == []
    assert await found("ifter") == []
    assert await found("rifter blue") == [5, 6, 7, 8]
    # every character of the text is itself, wildcards and brackets included
    assert await found("(rifter)") == [21]
    assert await found("rifter) 100%") == [21]
    assert await found("100% safe") == [21]
    assert await found("100_ safe") == []
    assert await found("cheap (rifter") == [21]


async def test_market_group_filter_takes_the_whole_subtree(
    settings_with_space: ApiSettings,
) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(settings_with_space.database_url))
    try:
        vexor_group = await connection.fetchval(
            "SELECT market_group_id FROM item_types WHERE type_id = $1", VEXOR
        )
        chain = await connection.fetch(
            """WITH RECURSIVE up AS (
                   SELECT market_group_id, parent_id FROM market_groups
                   WHERE market_group_id = $1
                   UNION SELECT m.market_group_id, m.parent_id FROM market_groups AS m
                   JOIN up ON m.market_group_id = up.parent_id)
               SELECT market_group_id FROM up WHERE parent_id IS NULL""",
            vexor_group,
        )
        unknown = 1 + await connection.fetchval("SELECT max(market_group_id) FROM market_groups")
    finally:
        await connection.close()
    assert vexor_group is not None
    ships_root = chain[0]["market_group_id"]
    assert sorted(await _list(settings_with_space, market_group_id=vexor_group)) == [4]
    assert sorted(await _list(settings_with_space, market_group_id=ships_root)) == [1, 2, 3, 4]
    assert await _list(settings_with_space, market_group_id=unknown) == []
    assert await _list(settings_with_space, market_group_id=ships_root, q="rifter") == []
    # with the subtree in the count and facet statements, and across pages
    params = {"market_group_id": ships_root, "status": "all", "count": "true", "facets": "true",
              "limit": 3}  # fmt: skip
    async with api_client(settings_with_space) as client:
        first = await client.get("/v1/contracts", params=params)
        cursor = first.json()["next_cursor"]
        second = await client.get("/v1/contracts", params={**params, "cursor": cursor})
    assert first.json()["total"] == {"value": 4, "kind": "exact"}
    assert first.json()["facets"]["by_category"][0]["contracts"] == 4
    assert sorted(ids(first) + ids(second)) == [1, 2, 3, 4]


async def test_security_class_of_the_start_system(settings_with_space: ApiSettings) -> None:
    async def found(security: str, **params: Any) -> list[int]:
        return sorted(await _list(settings_with_space, security=security, limit=100, **params))

    assert await found("highsec") == sorted([*HIGHSEC_WORLD, 21])
    assert await found("lowsec") == [22, 23]
    assert await found("nullsec") == [24, 25]
    assert await found("highsec", q="cheap") == [21]
    assert await found("lowsec", type="courier") == []
    everything = sorted(await _list(settings_with_space, limit=100))
    assert 26 in everything  # a structure of unknown system: in no class, still listed
    async with api_client(settings_with_space) as client:
        refused = await client.get("/v1/contracts", params={"security": "wormhole"})
    assert refused.status_code == 422


@pytest.mark.parametrize("name", ["category_id", "group_id", "market_group_id"])
async def test_catalog_ids_beyond_32_bits_are_refused(
    settings_with_world: ApiSettings, name: str
) -> None:
    async with api_client(settings_with_world) as client:
        refused = await client.get("/v1/contracts", params={name: 2**31})
        largest = await client.get("/v1/contracts", params={name: 2**31 - 1})
    assert refused.status_code == 422, refused.text
    assert name in refused.text
    assert largest.status_code == 200
    assert largest.json()["items"] == []


async def test_rows_name_the_systems_constellations_and_regions(
    settings_with_space: ApiSettings,
) -> None:
    async with api_client(settings_with_space) as client:
        listed = await client.get("/v1/contracts", params={"limit": 100, "status": "all"})
        detail = (await client.get("/v1/contracts/9")).json()
    rows = {row["contract_id"]: row for row in listed.json()["items"]}
    shown = {
        contract_id: (rows[contract_id]["start_security_status"],
                      rows[contract_id]["start_security_class"])
        for contract_id in (1, 21, 22, 23, 24, 25, 26)
    }  # fmt: skip
    assert shown == {
        1: (0.9, "highsec"), 21: (0.5, "highsec"), 22: (0.4, "lowsec"), 23: (0.1, "lowsec"),
        24: (0.0, "nullsec"), 25: (-0.3, "nullsec"), 26: (None, None),
    }  # fmt: skip
    jita = rows[1]
    assert (jita["start_system_name"], jita["start_constellation_name"],
            jita["start_region_name"]) == ("Jita", "Kimotoro", "The Forge")  # fmt: skip
    courier = rows[9]  # Jita -> Amarr
    assert (courier["end_system_id"], courier["end_system_name"],
            courier["end_constellation_name"], courier["end_region_name"]) == (
        AMARR_SYSTEM, "Amarr", "Throne Worlds", "Domain")  # fmt: skip
    structure = rows[26]
    assert structure["start_location_name"] == f"Structure {STRUCTURE}"
    assert structure["start_system_id"] is None
    assert structure["start_region_name"] is None
    for field in ("end_system_name", "end_constellation_name", "end_region_name",
                  "start_security_status", "start_security_class"):  # fmt: skip
        assert detail[field] == courier[field], field


async def test_facets_count_by_contract_type_and_item_category(
    settings_with_world: ApiSettings,
) -> None:
    async with api_client(settings_with_world) as client:
        plain = (await client.get("/v1/contracts")).json()
        assert plain["facets"] is None
        first = await client.get("/v1/contracts", params={"facets": "true", "limit": 2})
        facets = first.json()["facets"]
        assert (facets["counted"], facets["complete"]) == (11, True)
        assert facets["by_type"] == [
            {"type": "item_exchange", "contracts": 8}, {"type": "courier", "contracts": 3}
        ]  # fmt: skip
        by_category = {c["category_name"]: c["contracts"] for c in facets["by_category"]}
        assert by_category == {"Ship": 4, "Blueprint": 4, "Material": 1}
        # the cursor does not change them
        cursor = first.json()["next_cursor"]
        second = await client.get(
            "/v1/contracts", params={"facets": "true", "limit": 2, "cursor": cursor}
        )
        assert second.status_code == 200, second.text
        assert second.json()["facets"] == facets
        ships = await client.get("/v1/contracts", params={"facets": "true", "ship": "true"})
        ship_facets = ships.json()["facets"]
        assert ship_facets["by_type"] == [{"type": "item_exchange", "contracts": 4}]
        assert [(c["category_id"], c["contracts"]) for c in ship_facets["by_category"]] == [(6, 4)]


async def test_facets_stop_counting_at_the_bound(settings_with_world: ApiSettings) -> None:
    bounded = settings_with_world.model_copy(update={"facet_max_contracts": 5})
    async with api_client(bounded) as client:
        response = await client.get("/v1/contracts", params={"facets": "true"})
        unbounded = await client.get("/v1/contracts", params={"facets": "true", "ship": "true"})
    facets = response.json()["facets"]
    assert (facets["counted"], facets["complete"]) == (6, False)
    assert sum(t["contracts"] for t in facets["by_type"]) == 6
    true_counts = {"item_exchange": 8, "courier": 3}
    assert all(t["contracts"] <= true_counts[t["type"]] for t in facets["by_type"])
    assert unbounded.json()["facets"]["complete"] is True  # 4 ships: under the bound


async def test_search_regex_of_any_text_matches_exactly_that_text(database_url: str) -> None:
    texts = ["100%_", "a\\b", "(x+)+$", "[[:alpha:]]", "^.*?{2}|", "***=x", "(?i)x", "\\mx",
             "é ü → ok"]  # fmt: skip
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        for text in texts:
            like, regex = word_search_params(text)
            spaced = " ".join(text.lower().split())
            row = await connection.fetchrow(
                "SELECT $1 LIKE $2 ESCAPE '/' AS like_at_start, $1 ~ $3 AS at_start,"
                " ('a' || $1) ~ $3 AS inside, ('a ' || $1) ~ $3 AS after_space",
                spaced, like, regex,
            )  # fmt: skip
            # a word starts at the text's start and after a space, not after a letter
            assert row is not None
            assert dict(row) == {
                "like_at_start": True, "at_start": True, "inside": False, "after_space": True,
            }, text  # fmt: skip
    finally:
        await connection.close()


@pytest.fixture
async def taxonomy_settings(
    settings_with_world: ApiSettings, settings: HangarSettings
) -> ApiSettings:
    """The world's API, with this test's Redis keys (removed after it)."""
    return settings_with_world.model_copy(
        update={"redis_url": settings.redis_url, "name_prefix": settings.name_prefix}
    )


async def _taxonomy(settings: ApiSettings) -> dict[str, Any]:
    """``GET /v1/taxonomy`` from a new app: a process of its own, nothing kept in memory."""
    async with api_client(settings) as client:
        response = await client.get("/v1/taxonomy")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _counts(body: dict[str, Any]) -> dict[int, tuple[int, dict[int, int]]]:
    return {
        c["category_id"]: (
            c["outstanding_contracts"],
            {g["group_id"]: g["outstanding_contracts"] for g in c["groups"]},
        )
        for c in body["categories"]
    }


async def test_taxonomy_counts_outstanding_contracts_by_category_and_group(
    taxonomy_settings: ApiSettings,
) -> None:
    body = await _taxonomy(taxonomy_settings)
    counts = _counts(body)
    assert counts[6][0] == 4  # Ship: both Vexors, Vexor Navy Issue three times
    assert counts[6][1][26] == 4  # Cruiser
    assert counts[9][0] == 4  # Blueprint: contracts 5 to 8
    assert counts[4][0] == 1  # Material: the Tritanium of contract 6
    connection = await asyncpg.connect(asyncpg_dsn(taxonomy_settings.database_url))
    try:
        rifter_blueprint_group = await connection.fetchval(
            "SELECT group_id FROM item_types WHERE type_id = $1", RIFTER_BLUEPRINT
        )
        published = {
            row["category_id"]
            for row in await connection.fetch(
                "SELECT category_id FROM item_categories WHERE published"
            )
        }
    finally:
        await connection.close()
    assert counts[9][1][rifter_blueprint_group] == 4
    shown = {c["category_id"] for c in body["categories"]}
    assert shown == published | {6, 9, 4}
    for category in body["categories"]:
        for group in category["groups"]:
            assert group["published"] or group["outstanding_contracts"] > 0, group
            assert group["outstanding_contracts"] <= category["outstanding_contracts"]


async def test_taxonomy_is_computed_once_per_lifetime_for_every_process(
    taxonomy_settings: ApiSettings,
) -> None:
    first = await _taxonomy(taxonomy_settings)
    connection = await asyncpg.connect(asyncpg_dsn(taxonomy_settings.database_url))
    try:
        await connection.execute(
            "UPDATE contracts SET status = 'gone', gone_at = now() WHERE contract_id <= 4"
        )
    finally:
        await connection.close()
    # another process within the lifetime: the shared answer, not a new count
    assert await _taxonomy(taxonomy_settings) == first
    redis = aioredis.from_url(taxonomy_settings.redis_url)
    try:
        keys = [k async for k in redis.scan_iter(match=f"{taxonomy_settings.name_prefix}:*")]
        assert len(keys) == 1
        await redis.delete(*keys)
    finally:
        await redis.aclose()
    fresh = await _taxonomy(taxonomy_settings)
    assert _counts(fresh)[6] == (0, dict.fromkeys(_counts(first)[6][1], 0))
    assert fresh["computed_at"] > first["computed_at"]


async def test_taxonomy_without_redis_is_computed_by_the_process(
    settings_with_world: ApiSettings,
) -> None:
    unreachable = settings_with_world.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    assert _counts(await _taxonomy(unreachable))[6][0] == 4
