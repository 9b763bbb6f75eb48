"""What contracts hold, by name: the trader's questions, type autocomplete, names in answers.

The contracts land through the persister's apply code (which derives their fields), on a
database holding the SDE catalog; locations and parties arrive as a reference message.
"""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from common.db import asyncpg_dsn
from common.esi_models import EsiItem
from common.messages import (
    ContractWithItems,
    ReferenceData,
    ReferenceName,
    ReferenceStation,
    ReferenceSystem,
)
from services.api.settings import ApiSettings
from services.persister.reference import apply_reference
from services.persister.repository import apply_contracts
from tests.integration.test_api_support import api_client, api_settings, ids
from tests.support import factories as f

JITA_SYSTEM, AMARR_SYSTEM = 30000142, 30002187
JITA_STATION, AMARR_STATION = 60003760, 60008494
THE_FORGE = 10000002
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
        ReferenceSystem(system_id=JITA_SYSTEM, name="Jita", constellation_id=20000020,
                        security_status=0.9),
        ReferenceSystem(system_id=AMARR_SYSTEM, name="Amarr", constellation_id=20000322,
                        security_status=1.0),
    ],
    names=[
        ReferenceName(id=THE_FORGE, name="The Forge", category="region"),
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


@pytest.mark.parametrize(
    ("q", "status"),
    [("%%%", 200), ("___", 200), ("a" * 10_000, 422), ("a\x00b", 422), ("ab", 422),
     (".*(x+)+$", 200), ("   ", 422)],
)  # fmt: skip
async def test_hostile_search_text(settings_with_world: ApiSettings, q: str, status: int) -> None:
    async with api_client(settings_with_world) as client:
        for path in ("/v1/contracts", "/v1/types"):
            response = await client.get(path, params={"q": q})
            assert response.status_code == status, (path, response.text)
            if status == 200:
                body = response.json()
                assert body.get("items", body.get("types")) == []
