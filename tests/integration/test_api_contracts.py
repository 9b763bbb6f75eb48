"""GET /v1/contracts filters and sorts, GET /v1/contracts/{id}, regions and stats."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from services.api.schemas import ContractListPage
from tests.integration.test_api_support import (
    AMARR_VIII,
    BASE_TIME,
    DOMAIN,
    THE_FORGE,
    all_pages,
    api_client,
    api_settings,
    contract,
    ids,
    item,
    seed,
)

HEIMATAR = 10000030
RAVEN = 638
TRITANIUM = 34
PLEX = 44992


def _hours(hours: int) -> datetime:
    return BASE_TIME + timedelta(hours=hours)


# A small world where every filter selects a different subset.
WORLD: list[dict[str, Any]] = [
    contract(1, title="Raven fitted", issuer_id=1001, price=Decimal("100.00")),
    contract(
        2,
        region_id=DOMAIN,
        type="auction",
        title="100% legit",
        price=Decimal("500.00"),
        buyout=Decimal("900.00"),
        start_location_id=AMARR_VIII,
        end_location_id=AMARR_VIII,
        date_issued=_hours(30),
        date_expired=_hours(30 + 72),
    ),
    contract(
        3,
        type="courier",
        price=Decimal("0.00"),
        reward=Decimal("5000000.00"),
        collateral=Decimal("100000000.00"),
        volume=60000.0,
        days_to_complete=3,
        end_location_id=AMARR_VIII,
        issuer_corporation_id=98000002,
    ),
    contract(4, status="gone", price=Decimal("2000000.00"), date_issued=_hours(-50)),
    contract(
        5,
        region_id=DOMAIN,
        title="100 legit",
        issuer_id=1002,
        price=Decimal("50.00"),
        date_issued=_hours(20),
        date_expired=_hours(20 + 24 * 30),
    ),
    contract(6, region_id=HEIMATAR, type="loan", price=None, volume=None, reward=None),
    contract(7, title="a_b", price=Decimal("75.50"), volume=0.5),
    contract(8, title="axb", price=Decimal("75.50"), volume=1200.0),
    contract(9, status="gone", region_id=DOMAIN, type="auction", price=Decimal("10.00")),
    contract(10, type="courier", reward=Decimal("1.00"), collateral=Decimal("5.00")),
]
WORLD_ITEMS = [
    item(101, 1, RAVEN),
    item(102, 1, TRITANIUM, quantity=1000),
    item(201, 2, PLEX),
    item(501, 5, RAVEN, is_included=False, item_id=None),
    item(901, 9, RAVEN),
]

Predicate = Callable[[dict[str, Any]], bool]


def _outstanding(extra: Predicate) -> Predicate:
    return lambda row: row["status"] == "outstanding" and extra(row)


FILTER_CASES: list[tuple[str, dict[str, Any], Predicate]] = [
    ("default is outstanding", {}, _outstanding(lambda r: True)),
    ("status gone", {"status": "gone"}, lambda r: r["status"] == "gone"),
    ("status all", {"status": "all"}, lambda r: True),
    ("one region", {"region_id": THE_FORGE}, _outstanding(lambda r: r["region_id"] == THE_FORGE)),
    (
        "several regions",
        {"region_id": [DOMAIN, HEIMATAR]},
        _outstanding(lambda r: r["region_id"] in {DOMAIN, HEIMATAR}),
    ),
    ("one type", {"type": "courier"}, _outstanding(lambda r: r["type"] == "courier")),
    (
        "several types, all statuses",
        {"type": ["auction", "loan"], "status": "all"},
        lambda r: r["type"] in {"auction", "loan"},
    ),
    ("min_price", {"min_price": "100"}, _outstanding(lambda r: (r["price"] or -1) >= 100)),
    (
        "max_price",
        {"max_price": "75.5"},
        _outstanding(lambda r: r["price"] is not None and r["price"] <= Decimal("75.5")),
    ),
    (
        "price range",
        {"min_price": "50", "max_price": "100"},
        _outstanding(lambda r: r["price"] is not None and 50 <= r["price"] <= 100),
    ),
    ("min_reward", {"min_reward": "1"}, _outstanding(lambda r: (r["reward"] or 0) >= 1)),
    (
        "max_reward",
        {"max_reward": "1"},
        _outstanding(lambda r: r["reward"] is not None and r["reward"] <= 1),
    ),
    (
        "collateral range",
        {"min_collateral": "1", "max_collateral": "1000"},
        _outstanding(lambda r: r["collateral"] is not None and 1 <= r["collateral"] <= 1000),
    ),
    ("min_volume", {"min_volume": 100}, _outstanding(lambda r: (r["volume"] or 0) >= 100)),
    (
        "max_volume",
        {"max_volume": 1},
        _outstanding(lambda r: r["volume"] is not None and r["volume"] <= 1),
    ),
    (
        "issued_after",
        {"issued_after": "2025-01-01T20:00:00Z"},
        _outstanding(lambda r: r["date_issued"] >= _hours(20)),
    ),
    (
        "issued_before (no offset means UTC)",
        {"issued_before": "2025-01-01T20:00:00"},
        _outstanding(lambda r: r["date_issued"] < _hours(20)),
    ),
    (
        "expires window",
        {"expires_after": "2025-01-05T00:00:00+00:00", "expires_before": "2025-01-20T00:00:00Z"},
        _outstanding(lambda r: _hours(4 * 24) <= r["date_expired"] < _hours(19 * 24)),
    ),
    (
        "start_location_id",
        {"start_location_id": AMARR_VIII},
        _outstanding(lambda r: r["start_location_id"] == AMARR_VIII),
    ),
    (
        "end_location_id",
        {"end_location_id": AMARR_VIII},
        _outstanding(lambda r: r["end_location_id"] == AMARR_VIII),
    ),
    ("issuer_id", {"issuer_id": 1002}, _outstanding(lambda r: r["issuer_id"] == 1002)),
    (
        "issuer_corporation_id",
        {"issuer_corporation_id": 98000002},
        _outstanding(lambda r: r["issuer_corporation_id"] == 98000002),
    ),
    ("contains an included type", {"contains_type_id": RAVEN}, lambda r: r["contract_id"] == 1),
    (
        "contains a type, requested too, all statuses",
        {"contains_type_id": RAVEN, "include_requested": "true", "status": "all"},
        lambda r: r["contract_id"] in {1, 5, 9},
    ),
    (
        "contains any of several types",
        {"contains_type_id": [PLEX, TRITANIUM]},
        lambda r: r["contract_id"] in {1, 2},
    ),
    ("title, case-insensitive", {"title": "rAVEN"}, lambda r: r["contract_id"] == 1),
    ("title with a literal %", {"title": "100%"}, lambda r: r["contract_id"] == 2),
    ("title with a literal _", {"title": "A_B"}, lambda r: r["contract_id"] == 7),
    (
        "several filters at once",
        {"region_id": THE_FORGE, "type": "item_exchange", "max_price": "100", "min_volume": 1},
        _outstanding(
            lambda r: (
                r["region_id"] == THE_FORGE
                and r["type"] == "item_exchange"
                and r["price"] is not None
                and r["price"] <= 100
                and (r["volume"] or 0) >= 1
            )
        ),
    ),
]


@pytest.mark.parametrize(
    ("params", "wanted"),
    [pytest.param(params, wanted, id=name) for name, params, wanted in FILTER_CASES],
)
async def test_each_filter_selects_exactly_the_matching_contracts(
    database_url: str, params: dict[str, Any], wanted: Predicate
) -> None:
    await seed(database_url, WORLD, WORLD_ITEMS)
    expected = {row["contract_id"] for row in WORLD if wanted(row)}
    assert expected, "every case selects something"
    if params != {"status": "all"}:
        assert expected != {row["contract_id"] for row in WORLD}, "and filters something out"
    async with api_client(api_settings(database_url)) as client:
        response = await client.get("/v1/contracts", params=params)
    assert set(ids(response)) == expected


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        pytest.param({"min_price": "100.004"}, {2}, id="a lower bound between cents"),
        pytest.param({"max_price": "100.009"}, {1}, id="an upper bound between cents"),
        pytest.param({"min_price": "100.01", "max_price": "100.01"}, {2}, id="whole cents"),
        pytest.param({"min_price": "1e-100000"}, {1, 2}, id="a tiny lower bound"),
        pytest.param({"max_price": "0." + "0" * 5000 + "1"}, set(), id="a long upper bound"),
        pytest.param({"min_price": "999999999999999999.999"}, set(), id="above every price"),
        pytest.param({"max_reward": "999999999999999999.999"}, {1, 2}, id="below no reward"),
    ],
)
async def test_money_bounds_compare_exactly_at_any_precision(
    database_url: str, params: dict[str, str], expected: set[int]
) -> None:
    """The columns hold whole cents: a finer or longer bound is neither rounded the wrong way
    nor too long for PostgreSQL (it used to be a 500)."""
    await seed(
        database_url, [contract(1, price=Decimal("100.00")), contract(2, price=Decimal("100.01"))]
    )
    async with api_client(api_settings(database_url)) as client:
        response = await client.get("/v1/contracts", params=params)
    assert set(ids(response)) == expected


async def test_the_list_body_is_exactly_the_response_models_json(database_url: str) -> None:
    """The list is written straight from the rows (orjson): the very bytes a ContractListPage
    would give, for every kind of value (NULLs, microseconds, extreme floats and money,
    non-ASCII and escaped text)."""
    rows = [
        contract(1, title='Ravën ✓ "quoted" \\ <tag> \u2028', price=None, volume=None),
        contract(
            2,
            price=Decimal("99999999999999999.99"),
            reward=Decimal("0.01"),
            collateral=Decimal("12345.60"),
            buyout=Decimal("0.00"),
            volume=0.1 + 0.2,
            date_issued=BASE_TIME + timedelta(microseconds=123456),
            days_to_complete=None,
            for_corporation=None,
            start_location_id=None,
            end_location_id=None,
            title=None,
        ),
        contract(3, status="gone", volume=1e-300, gone_at=BASE_TIME + timedelta(microseconds=1)),
        contract(4, type="courier", volume=1.5e16, reward=Decimal("7.10")),
        contract(2**63 - 1, volume=123456789.123, issuer_id=2**63 - 1),
    ]
    await seed(database_url, rows)
    async with api_client(api_settings(database_url)) as client:
        response = await client.get("/v1/contracts", params={"status": "all", "count": "true"})
    assert response.status_code == 200
    assert len(response.json()["items"]) == len(rows)
    model = ContractListPage.model_validate_json(response.content)
    assert model.model_dump_json().encode() == response.content


# --- sorting ------------------------------------------------------------------------------


def _sort_world() -> list[dict[str, Any]]:
    """Ties and NULLs in every sort key, both statuses."""
    prices = [None, Decimal("10.00"), Decimal("10.00"), Decimal("99.99"), Decimal("5.00")]
    volumes = [1.5, None, 1.5, 0.25, 1e6]
    rewards = [Decimal("0.00"), Decimal("7.00"), None, Decimal("7.00"), Decimal("1.00")]
    rows = []
    for contract_id in range(1, 41):
        issued = _hours(contract_id % 7)  # ties in date_issued
        rows.append(
            contract(
                contract_id,
                price=prices[contract_id % 5],
                volume=volumes[(contract_id // 2) % 5],
                reward=rewards[(contract_id // 3) % 5],
                date_issued=issued,
                date_expired=issued + timedelta(days=contract_id % 3),
                status="gone" if contract_id % 4 == 0 else "outstanding",
            )
        )
    return rows


def _expected_order(rows: list[dict[str, Any]], sort: str, order: str) -> list[int]:
    descending = order == "desc"
    valued = [row for row in rows if row[sort] is not None]
    missing = [row for row in rows if row[sort] is None]
    valued.sort(key=lambda row: (row[sort], row["contract_id"]), reverse=descending)
    missing.sort(key=lambda row: row["contract_id"], reverse=descending)
    return [row["contract_id"] for row in valued + missing]


@pytest.mark.parametrize("status", ["outstanding", "all"])
@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("sort", ["price", "date_issued", "date_expired", "volume", "reward"])
async def test_sort_orders_with_ties_and_nulls_in_one_page_and_across_pages(
    database_url: str, sort: str, order: str, status: str
) -> None:
    world = _sort_world()
    await seed(database_url, world)
    rows = [row for row in world if status == "all" or row["status"] == status]
    expected = _expected_order(rows, sort, order)
    params = {"sort": sort, "order": order, "status": status}
    async with api_client(api_settings(database_url)) as client:
        one_page = await client.get("/v1/contracts", params={**params, "limit": 500})
        paged = await all_pages(client, params, limit=3)
    assert ids(one_page) == expected
    assert [row["contract_id"] for row in paged] == expected


async def test_default_sort_is_newest_first(database_url: str) -> None:
    world = _sort_world()
    await seed(database_url, world)
    outstanding = [row for row in world if row["status"] == "outstanding"]
    async with api_client(api_settings(database_url)) as client:
        response = await client.get("/v1/contracts")
    assert ids(response) == _expected_order(outstanding, "date_issued", "desc")


# --- representation -----------------------------------------------------------------------


async def test_money_is_a_decimal_string_and_dates_are_utc_with_z(database_url: str) -> None:
    await seed(
        database_url,
        [contract(1, price=Decimal("12345678901234567.89"), buyout=None, volume=0.1)],
    )
    async with api_client(api_settings(database_url)) as client:
        response = await client.get("/v1/contracts")
    [row] = response.json()["items"]
    assert row["price"] == "12345678901234567.89"  # beyond float precision, kept exact
    assert row["reward"] == "0.00"
    assert row["buyout"] is None
    assert row["volume"] == 0.1
    assert row["date_issued"] == "2025-01-01T00:01:00Z"
    assert row["gone_at"] is None


async def test_contract_detail_has_items_and_bids_highest_first(database_url: str) -> None:
    await seed(
        database_url,
        [contract(7, type="auction", status="gone")],
        [item(2, 7, RAVEN), item(1, 7, TRITANIUM, quantity=5000, is_included=False)],
        [
            {"bid_id": 11, "contract_id": 7, "amount": Decimal("10.00"), "date_bid": _hours(1)},
            {"bid_id": 12, "contract_id": 7, "amount": Decimal("25.50"), "date_bid": _hours(2)},
        ],
    )
    async with api_client(api_settings(database_url)) as client:
        response = await client.get("/v1/contracts/7")
    assert response.status_code == 200
    body = response.json()
    assert body["contract_id"] == 7
    assert body["status"] == "gone"
    assert body["gone_at"] == "2025-01-02T00:07:00Z"
    assert [(i["record_id"], i["type_id"], i["is_included"]) for i in body["items"]] == [
        (1, TRITANIUM, False),
        (2, RAVEN, True),
    ]
    assert [(b["bid_id"], b["amount"]) for b in body["bids"]] == [(12, "25.50"), (11, "10.00")]
    assert body["bids"][0]["date_bid"] == "2025-01-01T02:00:00Z"
    # A gone contract no longer changes: it is cacheable for longer.
    assert response.headers["cache-control"].startswith("public, max-age=3600")


async def test_unknown_contract_is_a_404_json_error(database_url: str) -> None:
    await seed(database_url, [contract(1)])
    async with api_client(api_settings(database_url)) as client:
        response = await client.get("/v1/contracts/2")
        unknown_route = await client.get("/v1/nothing-here")
    assert response.status_code == 404
    assert response.json() == {
        "error": {"code": "not_found", "message": "no contract 2", "details": []}
    }
    assert unknown_route.status_code == 404
    assert unknown_route.json()["error"]["code"] == "not_found"


# --- count --------------------------------------------------------------------------------


async def test_count_is_exact_below_the_threshold(database_url: str) -> None:
    await seed(
        database_url, [contract(i, type="courier" if i % 3 else "auction") for i in range(1, 31)]
    )
    async with api_client(api_settings(database_url, count_exact_threshold=100)) as client:
        response = await client.get(
            "/v1/contracts", params={"type": "courier", "count": "true", "limit": 2}
        )
        uncounted = await client.get("/v1/contracts", params={"limit": 2})
    assert response.json()["total"] == {"value": 20, "kind": "exact"}
    assert len(response.json()["items"]) == 2
    assert uncounted.json()["total"] is None


async def test_count_is_estimated_above_the_threshold(database_url: str) -> None:
    await seed(database_url, [contract(i) for i in range(1, 201)])
    async with api_client(api_settings(database_url, count_exact_threshold=50)) as client:
        response = await client.get("/v1/contracts", params={"count": "true"})
    total = response.json()["total"]
    assert total["kind"] == "estimated"
    assert total["value"] > 50  # never below what was counted before giving up


# --- regions and stats --------------------------------------------------------------------


async def test_regions_report_sweep_freshness_and_outstanding_counts(database_url: str) -> None:
    swept_at = _hours(5)
    await seed(
        database_url,
        [
            contract(1),
            contract(2),
            contract(3, status="gone"),
            contract(4, region_id=HEIMATAR),
        ],
        sweeps=[
            {
                "region_id": THE_FORGE,
                "generation": _hours(4),
                "swept_at": swept_at,
                "contract_count": 2,
            },
            {
                "region_id": DOMAIN,
                "generation": _hours(3),
                "swept_at": _hours(3),
                "contract_count": 0,
            },
        ],
    )
    async with api_client(api_settings(database_url)) as client:
        response = await client.get("/v1/regions")
    assert response.status_code == 200
    assert response.json()["regions"] == [
        {
            "region_id": THE_FORGE,
            "last_sweep_at": "2025-01-01T05:00:00Z",
            "generation": "2025-01-01T04:00:00Z",
            "swept_contracts": 2,
            "outstanding_contracts": 2,
        },
        {
            "region_id": HEIMATAR,  # contracts, but no complete sweep yet
            "last_sweep_at": None,
            "generation": None,
            "swept_contracts": None,
            "outstanding_contracts": 1,
        },
        {
            "region_id": DOMAIN,
            "last_sweep_at": "2025-01-01T03:00:00Z",
            "generation": "2025-01-01T03:00:00Z",
            "swept_contracts": 0,
            "outstanding_contracts": 0,
        },
    ]


async def test_stats_count_by_status_region_and_type(database_url: str) -> None:
    await seed(database_url, WORLD)
    async with api_client(api_settings(database_url)) as client:
        response = await client.get("/v1/stats")
    body = response.json()
    assert body["by_status"] == [
        {"status": "outstanding", "contracts": 8},
        {"status": "gone", "contracts": 2},
    ]
    assert body["by_region"] == [
        {"region_id": THE_FORGE, "outstanding": 5, "gone": 1},
        {"region_id": HEIMATAR, "outstanding": 1, "gone": 0},
        {"region_id": DOMAIN, "outstanding": 2, "gone": 1},
    ]
    assert body["by_type"] == [
        {"type": "auction", "outstanding": 1, "gone": 1},
        {"type": "courier", "outstanding": 2, "gone": 0},
        {"type": "item_exchange", "outstanding": 4, "gone": 1},
        {"type": "loan", "outstanding": 1, "gone": 0},
    ]
