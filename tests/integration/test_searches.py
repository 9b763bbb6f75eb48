"""Saved searches: CRUD through the contracts filter schema, and bad input changing nothing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from common.settings import HangarSettings
from tests.support.accounts import (
    account_api_settings,
    bearer,
    client_of,
    fetch,
    new_account,
)

WATCH = {
    "name": "cheap Ravens",
    "filters": {"contains_type_id": [638], "max_price": 150000000},
    "webhook_url": "https://hooks.example.com/hangar",
    "max_alerts_per_hour": 20,
}


async def _snapshot(database_url: str) -> list[Any]:
    searches = await fetch(database_url, "SELECT * FROM saved_searches ORDER BY search_id")
    types = await fetch(database_url, "SELECT * FROM saved_search_types ORDER BY 1, 2")
    return [dict(r) for r in searches] + [dict(r) for r in types]


async def test_create_read_replace_delete(settings: HangarSettings) -> None:
    _, key = await new_account(settings.database_url, "trader")
    async with client_of(account_api_settings(settings)) as client:
        created = await client.post("/v1/searches", json=WATCH, headers=bearer(key))
        assert created.status_code == 201, created.text
        search = created.json()
        search_id = search["search_id"]
        assert search["filters"] == {"contains_type_id": [638], "max_price": "150000000"}
        assert search["webhook_secret"]
        listed = await client.get("/v1/searches", headers=bearer(key))
        assert [s["search_id"] for s in listed.json()["items"]] == [search_id]

        replaced = await client.put(
            f"/v1/searches/{search_id}",
            json={
                "name": "any Tengu or Loki in The Forge",
                "filters": {"contains_type_id": [29984, 29990], "region_id": [10000002]},
                "webhook_url": "https://hooks.example.com/other",
            },
            headers=bearer(key),
        )
        assert replaced.status_code == 200, replaced.text
        assert replaced.json()["webhook_secret"] == search["webhook_secret"]
        read = await client.get(f"/v1/searches/{search_id}", headers=bearer(key))
        assert read.json()["name"] == "any Tengu or Loki in The Forge"
        assert read.json()["max_alerts_per_hour"] is None
        rows = await fetch(settings.database_url, "SELECT * FROM saved_searches")
        assert rows[0]["region_ids"] == [10000002]
        assert rows[0]["max_price"] is None
        types = await fetch(settings.database_url, "SELECT type_id FROM saved_search_types")
        assert sorted(r["type_id"] for r in types) == [29984, 29990]

        deleted = await client.delete(f"/v1/searches/{search_id}", headers=bearer(key))
        assert deleted.status_code == 204
        gone = await client.get(f"/v1/searches/{search_id}", headers=bearer(key))
        assert gone.status_code == 404
    assert await _snapshot(settings.database_url) == []


async def test_a_search_stores_typed_columns(settings: HangarSettings) -> None:
    _, key = await new_account(settings.database_url, "trader")
    body = {
        "name": "haul",
        "filters": {
            "type": ["courier"],
            "min_reward": "5000000.5",
            "max_volume": 60000,
            "title": "100%_safe",
            "issued_after": "2026-01-01T00:00:00+02:00",
            "start_location_id": 60003760,
        },
    }
    async with client_of(account_api_settings(settings)) as client:
        created = await client.post("/v1/searches", json=body, headers=bearer(key))
    assert created.status_code == 201, created.text
    (row,) = await fetch(settings.database_url, "SELECT * FROM saved_searches")
    assert row["contract_types"] == ["courier"]
    assert str(row["min_reward"]) == "5000000.5"
    assert row["max_volume"] == 60000
    assert row["title_pattern"] == "%100\\%\\_safe%"
    assert row["issued_after"].isoformat() == "2025-12-31T22:00:00+00:00"
    assert row["start_location_id"] == 60003760
    assert row["has_type_filter"] is False


BAD_BODIES: list[tuple[str, Any, str]] = [
    ("empty price range", {**WATCH, "filters": {"min_price": 5, "max_price": 1}}, "filters"),
    ("unknown filter", {**WATCH, "filters": {"colour": "red"}}, "colour"),
    ("unknown field", {**WATCH, "owner": 7}, "owner"),
    ("paging is no filter", {**WATCH, "filters": {"limit": 5}}, "filters"),
    ("gone never matches new", {**WATCH, "filters": {"status": "gone"}}, "filters"),
    ("name search not matched", {**WATCH, "filters": {"q": "raven navy"}}, "filters"),
    ("ship filter not matched", {**WATCH, "filters": {"is_ship": False}}, "filters"),
    ("negative price", {**WATCH, "filters": {"max_price": -1}}, "max_price"),
    ("bad type id", {**WATCH, "filters": {"contains_type_id": ["x"]}}, "contains_type_id"),
    ("http webhook", {**WATCH, "webhook_url": "http://hooks.example.com/x"}, "webhook_url"),
    ("no name", {k: v for k, v in WATCH.items() if k != "name"}, "name"),
    ("zero cap", {**WATCH, "max_alerts_per_hour": 0}, "max_alerts_per_hour"),
    ("not an object", [1, 2], "body"),
]


@pytest.mark.parametrize(("case", "body", "where"), BAD_BODIES, ids=[c[0] for c in BAD_BODIES])
async def test_bad_searches_are_refused_and_change_nothing(
    settings: HangarSettings, case: str, body: Any, where: str
) -> None:
    _, key = await new_account(settings.database_url, "trader")
    async with client_of(account_api_settings(settings)) as client:
        created = await client.post("/v1/searches", json=WATCH, headers=bearer(key))
        search_id = created.json()["search_id"]
        before = await _snapshot(settings.database_url)
        posted = await client.post("/v1/searches", json=body, headers=bearer(key))
        put = await client.put(f"/v1/searches/{search_id}", json=body, headers=bearer(key))
    for response in (posted, put):
        assert response.status_code == 422, (case, response.text)
        assert response.json()["error"]["code"] == "validation_error"
        locations = [d["location"] for d in response.json()["error"]["details"]]
        assert any(where in location for location in locations), locations
    assert await _snapshot(settings.database_url) == before


async def test_malformed_json_and_huge_bodies(settings: HangarSettings) -> None:
    _, key = await new_account(settings.database_url, "trader")
    huge = b'{"name": "' + b"x" * (10 * 1024 * 1024) + b'"}'
    async with client_of(account_api_settings(settings)) as client:
        malformed = await client.post(
            "/v1/searches",
            content=b'{"name": ',
            headers={**bearer(key), "Content-Type": "application/json"},
        )
        too_large = await client.post(
            "/v1/searches",
            content=huge,
            headers={**bearer(key), "Content-Type": "application/json"},
        )

        async def chunks() -> Any:
            for _ in range(10):
                yield b"x" * (1024 * 1024)

        streamed = await client.post(
            "/v1/searches",
            content=chunks(),
            headers={**bearer(key), "Content-Type": "application/json"},
        )
    assert malformed.status_code == 422
    assert too_large.status_code == 413
    assert too_large.json()["error"]["code"] == "body_too_large"
    assert streamed.status_code == 413
    assert await _snapshot(settings.database_url) == []


async def test_another_accounts_search_is_not_found_and_untouched(
    settings: HangarSettings,
) -> None:
    _, owner = await new_account(settings.database_url, "owner")
    _, intruder = await new_account(settings.database_url, "intruder")
    async with client_of(account_api_settings(settings)) as client:
        search_id = (await client.post("/v1/searches", json=WATCH, headers=bearer(owner))).json()[
            "search_id"
        ]
        before = await _snapshot(settings.database_url)
        path = f"/v1/searches/{search_id}"
        responses: list[httpx.Response] = [
            await client.get(path, headers=bearer(intruder)),
            await client.put(path, json={**WATCH, "name": "mine"}, headers=bearer(intruder)),
            await client.delete(path, headers=bearer(intruder)),
        ]
        listed = await client.get("/v1/searches", headers=bearer(intruder))
    assert [r.status_code for r in responses] == [404, 404, 404]
    assert listed.json() == {"items": []}
    assert await _snapshot(settings.database_url) == before


async def test_a_revoked_key_changes_nothing(settings: HangarSettings) -> None:
    _, key = await new_account(settings.database_url, "trader")
    async with client_of(account_api_settings(settings)) as client:
        search_id = (await client.post("/v1/searches", json=WATCH, headers=bearer(key))).json()[
            "search_id"
        ]
        await fetch(settings.database_url, "UPDATE api_keys SET revoked_at = now()")
        before = await _snapshot(settings.database_url)
        responses = [
            await client.post("/v1/searches", json=WATCH, headers=bearer(key)),
            await client.put(f"/v1/searches/{search_id}", json=WATCH, headers=bearer(key)),
            await client.delete(f"/v1/searches/{search_id}", headers=bearer(key)),
            await client.get("/v1/alerts", headers=bearer(key)),
        ]
    assert [r.status_code for r in responses] == [401, 401, 401, 401]
    assert await _snapshot(settings.database_url) == before


async def test_searches_per_account_are_bounded(settings: HangarSettings) -> None:
    _, key = await new_account(settings.database_url, "trader")
    async with client_of(account_api_settings(settings, max_searches_per_account=2)) as client:
        codes = [
            (await client.post("/v1/searches", json=WATCH, headers=bearer(key))).status_code
            for _ in range(3)
        ]
    assert codes == [201, 201, 409]
