"""Saved searches with the content filters of ``GET /v1/contracts`` (name search, ship,
category, group, blueprint copies, system, reward per m3), matched by the notifier on real
NATS JetStream and PostgreSQL as the contracts list filters them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from common.esi_models import EsiItem
from common.messages import ContractWithItems, ReferenceData, ReferenceStation, ReferenceSystem
from common.settings import HangarSettings
from tests.support import factories as f
from tests.support.accounts import account_api_settings, client_of, new_account
from tests.support.notifier import (
    alert_pairs,
    eventually,
    notifier_drained,
    notifier_settings,
    persist,
    running_notifier,
    save_search,
)
from tests.support.stream import jetstream, publish

JITA_STATION, JITA = 60003760, 30000142
AMARR_STATION, AMARR = 60008494, 30002187
VEXOR_NAVY_ISSUE, RIFTER_BLUEPRINT, TRITANIUM = 17843, 691, 34
CRUISER_GROUP, BATTLESHIP_GROUP, SHIP_CATEGORY, BLUEPRINT_CATEGORY = 26, 27, 6, 9
SHIPS_MARKET_GROUP, BLUEPRINTS_MARKET_GROUP = 4, 2


def _item(contract_id: int, n: int, type_id: int, **fields: Any) -> EsiItem:
    return EsiItem(
        record_id=contract_id * 100 + n,
        type_id=type_id,
        quantity=fields.pop("quantity", 1),
        is_included=True,
        **fields,
    )


def _contract(contract_id: int, items: list[EsiItem], **fields: Any) -> ContractWithItems:
    return f.contract(contract_id, items=0).model_copy(update={"items": items, **fields})


def _copy(contract_id: int, n: int, runs: int, me: int, te: int) -> EsiItem:
    return _item(
        contract_id,
        n,
        RIFTER_BLUEPRINT,
        is_blueprint_copy=True,
        runs=runs,
        material_efficiency=me,
        time_efficiency=te,
    )


CONTRACTS = [
    # a ship and a material, in Jita
    _contract(1, [_item(1, 1, VEXOR_NAVY_ISSUE), _item(1, 2, TRITANIUM, quantity=1000)]),
    # two blueprint copies in Amarr: runs 5 / ME 10 / TE 20, and runs 20 / ME 8 / TE 16
    _contract(
        2,
        [_copy(2, 1, runs=5, me=10, te=20), _copy(2, 2, runs=20, me=8, te=16)],
        start_location_id=AMARR_STATION,
        end_location_id=AMARR_STATION,
    ),
    # a courier out of Jita paying 1,000 ISK per m3
    _contract(
        3,
        [],
        type="courier",
        price=0.0,
        reward=1e6,
        volume=1000.0,
        end_location_id=AMARR_STATION,
    ),
    # a material with a title, in Jita
    _contract(4, [_item(4, 1, TRITANIUM, quantity=5)], title="Navy surplus"),
]

#: filters -> the contracts they match, as the contracts list (``GET /v1/contracts``) does
FILTERS: list[tuple[dict[str, Any], list[int]]] = [
    ({"q": "vexor navy"}, [1]),
    ({"q": "navy"}, [1, 3, 4]),  # the courier's label names the Caldari Navy Assembly Plant
    ({"q": "moon 4"}, [3]),
    ({"q": "vexor.navy"}, []),  # "." is no wildcard
    ({"q": "exor"}, []),  # not at the start of a word
    ({"ship": True}, [1]),
    ({"ship": False}, [2, 3, 4]),
    ({"category_id": SHIP_CATEGORY}, [1]),
    ({"category_id": BLUEPRINT_CATEGORY}, [2]),
    ({"group_id": CRUISER_GROUP}, [1]),
    ({"group_id": BATTLESHIP_GROUP}, []),
    ({"bpc": True}, [2]),
    ({"bpc": False}, [1, 3, 4]),
    ({"min_runs": 10, "max_me": 9}, [2]),  # the second copy
    ({"min_runs": 10, "min_me": 10}, []),  # each copy has one of them, none has both
    ({"max_runs": 4}, []),
    ({"min_te": 17, "max_te": 20}, [2]),
    ({"system_id": JITA}, [1, 3, 4]),
    ({"system_id": AMARR}, [2]),
    ({"min_reward_per_m3": 500}, [3]),
    ({"min_reward_per_m3": 2000}, []),
    ({"market_group_id": SHIPS_MARKET_GROUP}, [1]),  # the root of the Vexor's tree
    ({"market_group_id": BLUEPRINTS_MARKET_GROUP}, [2]),
    ({"market_group_id": 999_999_999}, []),
    ({"security": "highsec"}, [1, 3, 4]),  # Amarr's system is not known here
    ({"security": "lowsec"}, []),
    ({"contains_type_id": [TRITANIUM], "ship": True}, [1]),
    ({"contains_type_id": [TRITANIUM], "q": "navy", "system_id": JITA}, [1, 4]),
    ({"region_id": [f.REGION], "type": ["courier"], "q": "courier"}, [3]),
]


def _stations() -> ReferenceData:
    return ReferenceData(
        resolved_at=f.BASE_TIME - timedelta(days=2),
        stations=[
            ReferenceStation(station_id=JITA_STATION, system_id=JITA,
                             name="Jita IV - Moon 4 - Caldari Navy Assembly Plant"),
            ReferenceStation(station_id=AMARR_STATION, system_id=AMARR,
                             name="Amarr VIII (Oris) - Emperor Family Academy"),
        ],
        systems=[
            ReferenceSystem(system_id=JITA, name="Jita", constellation_id=20000020,
                            security_status=0.9459),
        ],
    )  # fmt: skip


async def test_each_content_filter_matches_as_the_contracts_list_does(
    settings: HangarSettings,
) -> None:
    account, _ = await new_account(settings.database_url, "trader")
    url = settings.database_url
    searches = [
        await save_search(url, account, {"name": f"search {n}", "filters": filters})
        for n, (filters, _) in enumerate(FILTERS)
    ]
    async with jetstream(settings) as (_, js):
        await publish(js, settings, _stations(), f.batch(CONTRACTS))
        await persist(settings)
        async with running_notifier(notifier_settings(settings)):
            await eventually(lambda: notifier_drained(js, settings), what="the consumer drained")
    pairs = await alert_pairs(url)
    matched = [sorted(c for s, c in pairs if s == search_id) for search_id in searches]
    assert list(zip([fl for fl, _ in FILTERS], matched, strict=True)) == FILTERS

    # the contracts list agrees
    async with client_of(account_api_settings(settings)) as client:
        for filters, expected in FILTERS:
            listed = await client.get("/v1/contracts", params=filters)
            assert listed.status_code == 200, listed.text
            ids = sorted(row["contract_id"] for row in listed.json()["items"])
            assert (filters, ids) == (filters, expected)
