"""Contracts' derived fields: the same end state whatever order reference data, contracts and
items arrive in, through the persister's apply code (as live and as a replay)."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

import asyncpg
import pytest

from common.db import asyncpg_dsn
from common.esi_models import EsiItem
from common.messages import (
    ContractWithItems,
    Event,
    ReferenceCategory,
    ReferenceData,
    ReferenceGroup,
    ReferenceName,
    ReferenceStation,
    ReferenceType,
)
from common.settings import HangarSettings
from common.subjects import Subjects
from services.persister.applier import Delivery, apply_deliveries
from tests.support import factories as f
from tests.support.stream import subject_of

JITA_STATION = 60003760
AMARR_STATION = 60008494
STRUCTURE = 1_035_466_617_946
VEXOR_NAVY_ISSUE, RIFTER_BLUEPRINT, TRITANIUM, NEW_TYPE = 17843, 691, 34, 2_000_000_001
UNKNOWN_TYPE = 1_999_999_999
SHIPS_MARKET_GROUP, CRUISERS_MARKET_GROUP = 4, 1368
#: The market groups as the SDE loader leaves them (the SDE is their only source).
MARKET_GROUPS = f"""
INSERT INTO market_groups (market_group_id, name, parent_id, path) VALUES
    ({SHIPS_MARKET_GROUP}, 'Ships', NULL, '{{{SHIPS_MARKET_GROUP}}}'),
    ({CRUISERS_MARKET_GROUP}, 'Cruisers', {SHIPS_MARKET_GROUP},
     '{{{CRUISERS_MARKET_GROUP}, {SHIPS_MARKET_GROUP}}}')
"""


def _item(contract_id: int, n: int, type_id: int, **fields: Any) -> EsiItem:
    return EsiItem(
        record_id=contract_id * 100 + n,
        type_id=type_id,
        quantity=fields.pop("quantity", 1),
        is_included=fields.pop("is_included", True),
        **fields,
    )


def _contract(contract_id: int, items: list[EsiItem], **fields: Any) -> ContractWithItems:
    return f.contract(contract_id, items=0).model_copy(update={"items": items, **fields})


def _contracts() -> list[ContractWithItems]:
    return [
        # a ship behind a material: the ship is the label
        _contract(1, [_item(1, 1, TRITANIUM, quantity=1000), _item(1, 2, VEXOR_NAVY_ISSUE)]),
        # blueprint copies, and an original that is not counted as a copy
        _contract(
            2,
            [
                _item(
                    2,
                    1,
                    RIFTER_BLUEPRINT,
                    is_blueprint_copy=True,
                    runs=5,
                    material_efficiency=10,
                    time_efficiency=20,
                ),
                _item(
                    2,
                    2,
                    RIFTER_BLUEPRINT,
                    is_blueprint_copy=True,
                    runs=20,
                    material_efficiency=8,
                    time_efficiency=16,
                ),
                _item(2, 3, RIFTER_BLUEPRINT, runs=-1, material_efficiency=0, time_efficiency=0),
            ],
        ),
        # a courier: no items, no title
        _contract(
            3,
            [],
            type="courier",
            reward=2_000_000.0,
            volume=4000.0,
            start_location_id=JITA_STATION,
            end_location_id=AMARR_STATION,
        ),
        # a courier to a player structure
        _contract(
            4,
            [],
            type="courier",
            reward=100.0,
            volume=0.0,
            start_location_id=JITA_STATION,
            end_location_id=STRUCTURE,
        ),
        # a type newer than the SDE, resolved later; a requested item does not count
        _contract(
            5,
            [_item(5, 1, NEW_TYPE), _item(5, 2, VEXOR_NAVY_ISSUE, is_included=False)],
            title="New stuff",
        ),
        # a type nobody knows, and a title
        _contract(6, [_item(6, 1, UNKNOWN_TYPE)], title="Mystery"),
    ]


def _types_message() -> ReferenceData:
    return ReferenceData(
        resolved_at=f.BASE_TIME,
        categories=[
            ReferenceCategory(category_id=6, name="Ship", published=True),
            ReferenceCategory(category_id=9, name="Blueprint", published=True),
            ReferenceCategory(category_id=4, name="Material", published=True),
        ],
        groups=[
            ReferenceGroup(group_id=26, name="Cruiser", category_id=6, published=True),
            ReferenceGroup(group_id=105, name="Frigate Blueprint", category_id=9, published=True),
            ReferenceGroup(group_id=18, name="Mineral", category_id=4, published=True),
        ],
        types=[
            ReferenceType(type_id=VEXOR_NAVY_ISSUE, name="Vexor Navy Issue", group_id=26,
                          category_id=6, published=True, volume=112000.0,
                          market_group_id=CRUISERS_MARKET_GROUP),
            ReferenceType(type_id=RIFTER_BLUEPRINT, name="Rifter Blueprint", group_id=105,
                          category_id=9, published=True, volume=0.01),
            ReferenceType(type_id=TRITANIUM, name="Tritanium", group_id=18, category_id=4,
                          published=True, volume=0.01),
        ],
    )  # fmt: skip


def _new_type_message() -> ReferenceData:
    return ReferenceData(
        resolved_at=f.BASE_TIME + timedelta(hours=1),
        types=[
            ReferenceType(type_id=NEW_TYPE, name="Brand New Frigate", group_id=26,
                          category_id=6, published=True),
        ],
    )  # fmt: skip


def _locations_message() -> ReferenceData:
    return ReferenceData(
        resolved_at=f.BASE_TIME,
        stations=[
            ReferenceStation(station_id=JITA_STATION, system_id=30000142,
                             name="Jita IV - Moon 4 - Caldari Navy Assembly Plant"),
        ],
        names=[ReferenceName(id=AMARR_STATION, category="station",
                             name="Amarr VIII (Oris) - Emperor Family Academy")],
    )  # fmt: skip


EXPECTED: dict[int, dict[str, Any]] = {
    1: {
        "is_ship": True, "primary_label": "Vexor Navy Issue", "item_count": 2, "has_bpc": False,
        "offered_category_ids": [4, 6], "offered_group_ids": [18, 26],
        "offered_market_group_ids": [SHIPS_MARKET_GROUP, CRUISERS_MARKET_GROUP],
    },
    2: {
        "is_ship": False, "primary_label": "Rifter Blueprint", "item_count": 3, "has_bpc": True,
        "bpc_runs_min": 5, "bpc_runs_max": 20, "bpc_me_min": 8, "bpc_me_max": 10,
        "bpc_te_min": 16, "bpc_te_max": 20, "offered_category_ids": [9],
        "offered_group_ids": [105], "offered_market_group_ids": [],
    },
    3: {
        "is_ship": False, "item_count": 0, "reward_per_m3": 500.0, "offered_category_ids": [],
        "offered_group_ids": [], "offered_market_group_ids": [],
        "primary_label": "Courier: Jita IV - Moon 4 - Caldari Navy Assembly Plant"
        " → Amarr VIII (Oris) - Emperor Family Academy",
    },
    4: {
        "primary_label": "Courier: Jita IV - Moon 4 - Caldari Navy Assembly Plant"
        f" → Structure {STRUCTURE}",
        "reward_per_m3": None,
    },
    # the requested Vexor Navy Issue is not offered: not in the kinds either
    5: {
        "is_ship": True, "primary_label": "Brand New Frigate", "item_count": 1,
        "offered_category_ids": [6], "offered_group_ids": [26], "offered_market_group_ids": [],
    },
    6: {
        "is_ship": False, "primary_label": f"Unknown type {UNKNOWN_TYPE}", "item_count": 1,
        "offered_category_ids": [], "offered_group_ids": [], "offered_market_group_ids": [],
    },
}  # fmt: skip

DERIVED = (
    "is_ship, primary_label, item_count, has_bpc, bpc_runs_min, bpc_runs_max, bpc_me_min,"
    " bpc_me_max, bpc_te_min, bpc_te_max, search_text, reward_per_m3, offered_category_ids,"
    " offered_group_ids, offered_market_group_ids"
)

STEPS = ("types", "new_type", "locations", "contracts")


def _message(step: str) -> Event:
    if step == "types":
        return _types_message()
    if step == "new_type":
        return _new_type_message()
    if step == "locations":
        return _locations_message()
    return f.batch(_contracts())


async def _derived(database_url: str) -> dict[int, dict[str, Any]]:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        rows = await connection.fetch(f"SELECT contract_id, {DERIVED} FROM contracts")
    finally:
        await connection.close()
    return {r["contract_id"]: {k: v for k, v in r.items() if k != "contract_id"} for r in rows}


@pytest.fixture(autouse=True)
async def _no_reference_data(settings: HangarSettings) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(settings.database_url))
    try:
        await connection.execute(f"TRUNCATE {f.REFERENCE_TABLES}")
        await connection.execute(MARKET_GROUPS)
    finally:
        await connection.close()


async def _apply(settings: HangarSettings, fetches: list[list[str]]) -> None:
    subjects = Subjects(settings.name_prefix)
    pool = await asyncpg.create_pool(asyncpg_dsn(settings.database_url), min_size=1, max_size=2)
    try:
        for fetch in fetches:
            deliveries = [
                Delivery((m := _message(step)).to_json(), subject_of(subjects, m)) for step in fetch
            ]
            outcome = await apply_deliveries(pool, deliveries)
            assert outcome.rejected == []
            assert sorted(outcome.applied) == list(range(len(deliveries)))
    finally:
        await pool.close()


def _check(derived: dict[int, dict[str, Any]]) -> None:
    assert derived.keys() == EXPECTED.keys()
    for contract_id, expected in EXPECTED.items():
        got = {k: derived[contract_id][k] for k in expected}
        assert got == expected, contract_id
    assert "vexor navy issue" in derived[1]["search_text"]
    assert "tritanium" in derived[1]["search_text"]
    assert "mystery" in derived[6]["search_text"]


ORDERS = [[[step] for step in order] for order in itertools.permutations(STEPS)]
ORDERS += [[list(STEPS)], [list(reversed(STEPS))]]  # everything in one fetch


@pytest.mark.parametrize(
    "fetches", ORDERS, ids=["|".join("+".join(f) for f in order) for order in ORDERS]
)
async def test_every_arrival_order_gives_the_same_derived_fields(
    settings: HangarSettings, fetches: list[list[str]]
) -> None:
    await _apply(settings, fetches)
    derived = await _derived(settings.database_url)
    _check(derived)
    # again, as a redelivery or a replay over a live database would: nothing changes
    await _apply(settings, fetches)
    assert await _derived(settings.database_url) == derived


async def test_reference_data_of_the_sde_wins_over_esi(settings: HangarSettings) -> None:
    await _apply(settings, [["contracts"], ["types"]])
    connection = await asyncpg.connect(asyncpg_dsn(settings.database_url))
    try:
        await connection.execute(
            "UPDATE item_types SET source = 'sde' WHERE type_id = $1", VEXOR_NAVY_ISSUE
        )
    finally:
        await connection.close()
    renamed = _types_message().model_copy(
        update={"types": [ReferenceType(type_id=VEXOR_NAVY_ISSUE, name="Renamed", group_id=26,
                                        category_id=6, published=True)]}
    )  # fmt: skip
    pool = await asyncpg.create_pool(asyncpg_dsn(settings.database_url), min_size=1, max_size=1)
    try:
        subject = subject_of(Subjects(settings.name_prefix), renamed)
        await apply_deliveries(pool, [Delivery(renamed.to_json(), subject)])
    finally:
        await pool.close()
    assert (await _derived(settings.database_url))[1]["primary_label"] == "Vexor Navy Issue"
