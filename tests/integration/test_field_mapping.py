"""Every field of real ESI pages and items (``tests/samples``), through the fetcher, JetStream
and the persister, to the exact database rows and the exact API JSON.

The expected values below are the samples' own, written out by hand: a column mapped to
another (start and end location, issuer and corporation, efficiencies, money fields) fails it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import asyncpg
import httpx

from common.db import asyncpg_dsn
from common.settings import HangarSettings
from services.api.app import create_app
from services.api.settings import ApiSettings
from services.fetcher.main import fetcher_resources, run_once
from services.fetcher.settings import FetcherSettings
from services.persister.main import serve as serve_persister
from services.persister.settings import PersisterSettings
from tests.support.esi_samples import sample_transport

REGION = 10000001
LAST_MODIFIED = "Tue, 14 Mar 2023 07:00:00 GMT"
GENERATION = datetime(2023, 3, 14, 7, 0, tzinfo=UTC)


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


#: ``contracts`` rows from ``contracts-10000001-{1,2}`` (7000 and 190442405 have no items in
#: the samples: ESI's 204, so they are not published), without the sighting times.
CONTRACT_COLUMNS = (
    "contract_id", "region_id", "type", "issuer_id", "issuer_corporation_id", "date_issued",
    "date_expired", "price", "reward", "collateral", "buyout", "volume", "days_to_complete",
    "start_location_id", "end_location_id", "for_corporation", "title", "status", "gone_at",
    "source_last_modified",
)  # fmt: skip
CONTRACT_ROWS = [
    (189863474, REGION, "item_exchange", 95944658, 98122973, _at("2023-03-06T11:05:11Z"),
     _at("2023-04-03T11:05:11Z"), Decimal("0.00"), Decimal("4600000.00"), Decimal("0.00"), None,
     0.0, 0, 60003760, 60003760, None, "WTB Charon 4,60 Billion", "outstanding", None,
     GENERATION),
    (190319637, REGION, "auction", 2118836807, 1000044, _at("2023-03-20T00:00:00Z"),
     _at("2023-04-05T06:38:10Z"), Decimal("400000000.00"), Decimal("0.00"), None,
     Decimal("669000000.00"), 0.22000000000000006, 0, 60012550, 60012550, None, "",
     "outstanding", None, GENERATION),
    (190753200, REGION, "item_exchange", 2119882841, 1000077, _at("2023-04-02T20:48:05Z"),
     _at("2023-04-30T20:48:05Z"), Decimal("3690000000.00"), Decimal("0.00"), Decimal("0.00"),
     None, 15500000.0, 0, 60012163, 60012163, None, "Nag + fuel", "outstanding", None,
     GENERATION),
    (190762629, REGION, "courier", 2119382109, 98507191, _at("2023-04-03T05:48:04Z"),
     _at("2023-05-01T05:48:04Z"), Decimal("0.00"), Decimal("9000000.00"),
     Decimal("990000000.00"), None, 274.4699999999999, 7, 60012547, 60003760, None, "",
     "outstanding", None, GENERATION),
]  # fmt: skip

ITEM_COLUMNS = (
    "record_id", "contract_id", "type_id", "quantity", "is_included", "item_id",
    "is_blueprint_copy", "material_efficiency", "time_efficiency", "runs",
)  # fmt: skip
#: ``items-189863474`` (a requested item: no item_id), ``items-190319637`` (blueprint copies),
#: ``items-190753200``.
ITEM_ROWS = [
    (4016528455, 189863474, 20185, 1, False, None, None, None, None, None),
    *(
        (record_id, 190319637, type_id, 1, True, item_id, True, 10, 20, 2)
        for record_id, type_id, item_id in [
            (4028861093, 945, 1036997458020), (4028861094, 32877, 1037087501474),
            (4028861095, 941, 1037124776041), (4028861096, 2007, 1037288996682),
            (4028861097, 32873, 1037329174931), (4028861098, 16239, 1037432498957),
            (4028861099, 936, 1037616304750), (4028861100, 974, 1037644398991),
            (4028861101, 944, 1037811565153), (4028861102, 938, 1037941228330),
            (4028861103, 974, 1038104336492), (4028861104, 955, 1038184538363),
            (4028861105, 941, 1038207479419), (4028861106, 971, 1038277653713),
            (4028861107, 687, 1038395160658), (4028861108, 32875, 1038419696165),
            (4028861109, 16241, 1038562080582), (4028861110, 936, 1038562080583),
            (4028861111, 974, 1038634193221), (4028861112, 32875, 1038643525143),
            (4028861113, 971, 1038748622477), (4028861114, 32873, 1038763636943),
        ]
    ),
    (4039134751, 190753200, 19722, 1, True, 1029857579430, None, None, None, None),
    (4039134752, 190753200, 31768, 1, True, 1032203003199, None, None, None, None),
    (4039134753, 190753200, 17889, 37319, True, 1032203003233, None, None, None, None),
    (4039134754, 190753200, 31762, 1, True, 1032203003246, None, None, None, None),
    (4039134755, 190753200, 31726, 1, True, 1032203003251, None, None, None, None),
    (4039134756, 190753200, 16275, 2000, True, 1032203015127, None, None, None, None),
]  # fmt: skip

#: The API's JSON of each contract, without items, bids and sighting times.
API_CONTRACTS: dict[int, dict[str, Any]] = {
    189863474: {
        "contract_id": 189863474, "region_id": REGION, "type": "item_exchange",
        "status": "outstanding", "issuer_id": 95944658, "issuer_corporation_id": 98122973,
        "for_corporation": None, "date_issued": "2023-03-06T11:05:11Z",
        "date_expired": "2023-04-03T11:05:11Z", "days_to_complete": 0, "price": "0.00",
        "reward": "4600000.00", "collateral": "0.00", "buyout": None, "volume": 0.0,
        "start_location_id": 60003760, "end_location_id": 60003760,
        "title": "WTB Charon 4,60 Billion", "gone_at": None,
    },
    190319637: {
        "contract_id": 190319637, "region_id": REGION, "type": "auction",
        "status": "outstanding", "issuer_id": 2118836807, "issuer_corporation_id": 1000044,
        "for_corporation": None, "date_issued": "2023-03-20T00:00:00Z",
        "date_expired": "2023-04-05T06:38:10Z", "days_to_complete": 0,
        "price": "400000000.00", "reward": "0.00", "collateral": None,
        "buyout": "669000000.00", "volume": 0.22000000000000006,
        "start_location_id": 60012550, "end_location_id": 60012550, "title": "",
        "gone_at": None,
    },
    190753200: {
        "contract_id": 190753200, "region_id": REGION, "type": "item_exchange",
        "status": "outstanding", "issuer_id": 2119882841, "issuer_corporation_id": 1000077,
        "for_corporation": None, "date_issued": "2023-04-02T20:48:05Z",
        "date_expired": "2023-04-30T20:48:05Z", "days_to_complete": 0,
        "price": "3690000000.00", "reward": "0.00", "collateral": "0.00", "buyout": None,
        "volume": 15500000.0, "start_location_id": 60012163, "end_location_id": 60012163,
        "title": "Nag + fuel", "gone_at": None,
    },
    190762629: {
        "contract_id": 190762629, "region_id": REGION, "type": "courier",
        "status": "outstanding", "issuer_id": 2119382109, "issuer_corporation_id": 98507191,
        "for_corporation": None, "date_issued": "2023-04-03T05:48:04Z",
        "date_expired": "2023-05-01T05:48:04Z", "days_to_complete": 7, "price": "0.00",
        "reward": "9000000.00", "collateral": "990000000.00", "buyout": None,
        "volume": 274.4699999999999, "start_location_id": 60012547,
        "end_location_id": 60003760, "title": "", "gone_at": None,
    },
}  # fmt: skip

#: What each contract holds, derived from its items and the SDE catalog: a requested item is
#: not offered (189863474), the first offered type by record id labels a contract without a
#: ship (190319637), the ship does (190753200), a courier without names is labelled by its ids.
_NO_BLUEPRINT_COPY = {
    "has_bpc": False, "bpc_runs_min": None, "bpc_runs_max": None, "bpc_me_min": None,
    "bpc_me_max": None, "bpc_te_min": None, "bpc_te_max": None,
}  # fmt: skip
API_CONTENT: dict[int, dict[str, Any]] = {
    189863474: {
        "is_ship": False, "primary_label": "WTB Charon 4,60 Billion", "item_count": 0,
        **_NO_BLUEPRINT_COPY, "reward_per_m3": None,
    },
    190319637: {
        "is_ship": False, "primary_label": "Breacher Blueprint", "item_count": 22,
        "has_bpc": True, "bpc_runs_min": 2, "bpc_runs_max": 2, "bpc_me_min": 10,
        "bpc_me_max": 10, "bpc_te_min": 20, "bpc_te_max": 20, "reward_per_m3": None,
    },
    190753200: {
        "is_ship": True, "primary_label": "Naglfar", "item_count": 6, **_NO_BLUEPRINT_COPY,
        "reward_per_m3": None,
    },
    190762629: {
        "is_ship": False, "primary_label": "Courier: Location 60012547 → Location 60003760",
        "item_count": 0, **_NO_BLUEPRINT_COPY, "reward_per_m3": 9000000.0 / 274.4699999999999,
    },
}  # fmt: skip
#: The samples' ESI answers no ``/universe`` call: no place or party has a name.
API_NO_NAMES = dict.fromkeys(
    (
        "region_name", "start_location_name", "end_location_name", "start_system_id",
        "start_system_name", "issuer_name", "issuer_corporation_name", "start_constellation_name",
        "start_region_name", "start_security_status", "start_security_class", "end_system_id",
        "end_system_name", "end_constellation_name", "end_region_name",
    )
)  # fmt: skip
#: type_id -> (type, group id, group, category id, category) in the SDE catalog.
TYPE_NAMES: dict[int, tuple[str, int, str, int, str]] = {
    20185: ("Charon", 513, "Freighter", 6, "Ship"),
    945: ("Breacher Blueprint", 105, "Frigate Blueprint", 9, "Blueprint"),
    941: ("Incursus Blueprint", 105, "Frigate Blueprint", 9, "Blueprint"),
    936: ("Executioner Blueprint", 105, "Frigate Blueprint", 9, "Blueprint"),
    944: ("Punisher Blueprint", 105, "Frigate Blueprint", 9, "Blueprint"),
    938: ("Tormentor Blueprint", 105, "Frigate Blueprint", 9, "Blueprint"),
    955: ("Atron Blueprint", 105, "Frigate Blueprint", 9, "Blueprint"),
    2007: ("Omen Blueprint", 106, "Cruiser Blueprint", 9, "Blueprint"),
    974: ("Rupture Blueprint", 106, "Cruiser Blueprint", 9, "Blueprint"),
    971: ("Vexor Blueprint", 106, "Cruiser Blueprint", 9, "Blueprint"),
    687: ("Caracal Blueprint", 106, "Cruiser Blueprint", 9, "Blueprint"),
    32877: ("Corax Blueprint", 487, "Destroyer Blueprint", 9, "Blueprint"),
    32873: ("Algos Blueprint", 487, "Destroyer Blueprint", 9, "Blueprint"),
    16239: ("Cormorant Blueprint", 487, "Destroyer Blueprint", 9, "Blueprint"),
    32875: ("Dragoon Blueprint", 487, "Destroyer Blueprint", 9, "Blueprint"),
    16241: ("Catalyst Blueprint", 487, "Destroyer Blueprint", 9, "Blueprint"),
    19722: ("Naglfar", 485, "Dreadnought", 6, "Ship"),
    31768: ("Capital Core Defense Capacitor Safeguard I", 774, "Rig Shield", 7, "Module"),
    17889: ("Hydrogen Isotopes", 423, "Ice Product", 4, "Material"),
    31762: ("Capital Thermal Shield Reinforcer II", 774, "Rig Shield", 7, "Module"),
    31726: ("Capital EM Shield Reinforcer II", 774, "Rig Shield", 7, "Module"),
    16275: ("Strontium Clathrates", 423, "Ice Product", 4, "Material"),
}
TYPE_NAME_FIELDS = ("type_name", "group_id", "group_name", "category_id", "category_name")

SIGHTINGS = ("first_seen_at", "last_seen_at")


async def _rows(database_url: str, table: str, columns: tuple[str, ...]) -> list[tuple[Any, ...]]:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        records = await connection.fetch(f"SELECT {', '.join(columns)} FROM {table} ORDER BY 1")
        return [tuple(r) for r in records]
    finally:
        await connection.close()


def _api_time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def test_real_pages_and_items_land_field_by_field(settings: HangarSettings) -> None:
    started = datetime.now(UTC)
    fetcher = FetcherSettings(
        **{**settings.model_dump(), "esi_base_url": "http://esi.test", "regions": [REGION]}
    )
    async with fetcher_resources(fetcher, sample_transport(REGION, 2, LAST_MODIFIED)) as fetch:
        (report,) = await run_once(fetch)
    assert (report.degraded, report.listed, report.published) == (False, 6, 4)
    await serve_persister(PersisterSettings(**settings.model_dump()), until_idle=True)
    finished = datetime.now(UTC)

    assert await _rows(settings.database_url, "contracts", CONTRACT_COLUMNS) == CONTRACT_ROWS
    assert await _rows(settings.database_url, "contract_items", ITEM_COLUMNS) == ITEM_ROWS
    assert await _rows(settings.database_url, "contract_bids", ("bid_id",)) == []
    sightings = {
        r[0]: r[1:]
        for r in await _rows(settings.database_url, "contracts", ("contract_id", *SIGHTINGS))
    }
    assert all(started <= seen <= finished for row in sightings.values() for seen in row)

    app = create_app(ApiSettings(database_url=settings.database_url))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://api.test"
        ) as api,
    ):
        listed = (await api.get("/v1/contracts", params={"order": "asc"})).raise_for_status()
        details = {
            contract_id: (await api.get(f"/v1/contracts/{contract_id}")).raise_for_status().json()
            for contract_id in API_CONTRACTS
        }
    for contract_id, fields in API_CONTRACTS.items():
        first_seen, last_seen = sightings[contract_id]
        expected = {
            **fields,
            **API_CONTENT[contract_id],
            **API_NO_NAMES,
            "first_seen_at": _api_time(first_seen),
            "last_seen_at": _api_time(last_seen),
        }
        items = [
            {
                **{k: v for k, v in zip(ITEM_COLUMNS, row, strict=True) if k != "contract_id"},
                **dict(zip(TYPE_NAME_FIELDS, TYPE_NAMES[row[2]], strict=True)),
            }
            for row in ITEM_ROWS
            if row[1] == contract_id
        ]
        assert details[contract_id] == {**expected, "items": items, "bids": []}
        summaries = [s for s in listed.json()["items"] if s["contract_id"] == contract_id]
        assert summaries == [expected]
    assert len(listed.json()["items"]) == len(API_CONTRACTS)
