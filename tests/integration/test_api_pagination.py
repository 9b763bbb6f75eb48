"""Keyset pagination: complete and duplicate-free under concurrent inserts; cursors that lie."""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from services.api.cursor import Cursor, CursorCodec, filters_digest
from services.api.schemas import ContractListQuery
from tests.integration.test_api_support import (
    BASE_TIME,
    TEST_SECRET,
    api_client,
    api_settings,
    contract,
    ids,
    seed,
)


def _random_contract(rng: random.Random, contract_id: int) -> dict[str, Any]:
    price = None if rng.random() < 0.15 else Decimal(rng.randint(0, 40)) * 1000
    issued = BASE_TIME + timedelta(minutes=rng.randint(0, 30))  # many ties
    return contract(contract_id, price=price, date_issued=issued)


def _sort_key(row: dict[str, Any], sort: str) -> tuple[bool, Any]:
    value = row[sort]
    if value is not None and sort == "price":
        value = Decimal(value)
    return (value is None, value)


@pytest.mark.parametrize(("sort", "order"), [("price", "asc"), ("date_issued", "desc")])
async def test_pages_have_no_duplicates_or_gaps_while_contracts_are_inserted(
    database_url: str, sort: str, order: str
) -> None:
    rng = random.Random(6)
    original = [_random_contract(rng, contract_id) for contract_id in range(1, 81)]
    await seed(database_url, original)
    seen: list[dict[str, Any]] = []
    next_id = 10_000
    params: dict[str, Any] = {"sort": sort, "order": order, "limit": 7}
    async with api_client(api_settings(database_url)) as client:
        cursor: str | None = None
        for _ in range(100):
            response = await client.get(
                "/v1/contracts", params=params if cursor is None else {**params, "cursor": cursor}
            )
            assert response.status_code == 200, response.text
            seen.extend(response.json()["items"])
            cursor = response.json()["next_cursor"]
            if cursor is None:
                break
            # Between two pages the persister lands new contracts on both sides of the cursor.
            await seed(database_url, [_random_contract(rng, next_id + n) for n in range(3)])
            next_id += 3
        else:
            pytest.fail("pagination did not end")
    returned = [row["contract_id"] for row in seen]
    assert len(returned) == len(set(returned)), "a contract was returned twice"
    assert {row["contract_id"] for row in original} <= set(returned), "a contract was skipped"
    assert len(returned) > len(original), "some contracts inserted behind the cursor showed up"
    # And the whole walk is one ordered sequence.
    keys = [(_sort_key(row, sort), row["contract_id"]) for row in seen]
    nulls_last = [(is_null, value, cid) for (is_null, value), cid in keys]
    if order == "asc":
        assert nulls_last == sorted(nulls_last)
    else:
        valued = [key for key in nulls_last if not key[0]]
        assert valued == sorted(valued, reverse=True)


async def test_page_size_may_change_between_pages(database_url: str) -> None:
    await seed(database_url, [contract(contract_id) for contract_id in range(1, 31)])
    async with api_client(api_settings(database_url)) as client:
        first = await client.get("/v1/contracts", params={"limit": 5, "sort": "date_issued"})
        second = await client.get(
            "/v1/contracts", params={"limit": 20, "cursor": first.json()["next_cursor"]}
        )
    assert ids(first) == list(range(30, 25, -1))
    assert ids(second) == list(range(25, 5, -1))


async def _first_cursor(database_url: str, params: dict[str, Any], secret: str) -> str:
    async with api_client(api_settings(database_url, cursor_secret=secret)) as client:
        response = await client.get("/v1/contracts", params={**params, "limit": 2})
    cursor = response.json()["next_cursor"]
    assert isinstance(cursor, str)
    return cursor


def _tamper(cursor: str) -> str:
    payload, signature = cursor.split(".")
    flipped = payload[:-3] + ("A" if payload[-3] != "A" else "B") + payload[-2:]
    return f"{flipped}.{signature}"


def _forged(query: ContractListQuery, value: str | None) -> str:
    """A correctly signed cursor (the secret leaked) whose sort value is nonsense."""
    codec = CursorCodec(TEST_SECRET.encode())
    digest = filters_digest(query.filter_fields())
    return codec.encode(Cursor(query.sort, query.order, value, 3, digest))


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("tampered", "signature"),
        ("foreign secret", "signature"),
        ("other filters", "other filters"),
        ("other sort", "sort=price"),
        ("other order", "order=asc"),
        ("garbage", "malformed"),
        ("bad sort value", "bad price value"),
        ("null where never null", "never null"),
    ],
)
async def test_unusable_cursors_are_refused_with_422(
    database_url: str, case: str, reason: str
) -> None:
    await seed(database_url, [contract(contract_id, type="courier") for contract_id in range(1, 6)])
    base = {"sort": "price", "order": "asc", "type": "courier"}
    params: dict[str, Any] = dict(base)
    if case == "tampered":
        cursor = _tamper(await _first_cursor(database_url, base, TEST_SECRET))
    elif case == "foreign secret":
        cursor = await _first_cursor(database_url, base, "another-secret-of-another-api")
    elif case == "other filters":
        cursor = await _first_cursor(database_url, base, TEST_SECRET)
        params["type"] = "auction"
    elif case == "other sort":
        cursor = await _first_cursor(database_url, base, TEST_SECRET)
        params["sort"] = "volume"
    elif case == "other order":
        cursor = await _first_cursor(database_url, base, TEST_SECRET)
        params["order"] = "desc"
    elif case == "garbage":
        cursor = "not-a-cursor"
    elif case == "bad sort value":
        cursor = _forged(ContractListQuery.model_validate({**base, "type": ["courier"]}), "12,5")
    else:
        params = {"sort": "date_issued", "order": "asc", "type": "courier"}
        cursor = _forged(ContractListQuery.model_validate({**params, "type": ["courier"]}), None)
    async with api_client(api_settings(database_url)) as client:
        response = await client.get("/v1/contracts", params={**params, "cursor": cursor})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_cursor"
    assert reason in error["message"]
    assert error["details"][0]["location"] == ["query", "cursor"]


async def test_a_valid_cursor_is_accepted_by_another_process_sharing_the_secret(
    database_url: str,
) -> None:
    await seed(database_url, [contract(contract_id) for contract_id in range(1, 6)])
    cursor = await _first_cursor(database_url, {}, TEST_SECRET)
    async with api_client(api_settings(database_url)) as client:
        response = await client.get("/v1/contracts", params={"limit": 2, "cursor": cursor})
    assert ids(response) == [3, 2]


async def test_list_parameters_are_order_insensitive_for_cursors(database_url: str) -> None:
    await seed(database_url, [contract(contract_id) for contract_id in range(1, 6)])
    cursor = await _first_cursor(database_url, {"type": ["courier", "item_exchange"]}, TEST_SECRET)
    async with api_client(api_settings(database_url)) as client:
        response = await client.get(
            "/v1/contracts",
            params={"limit": 2, "cursor": cursor, "type": ["item_exchange", "courier"]},
        )
    assert ids(response) == [3, 2]
