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
    keys = await fetch(database_url, "SELECT * FROM saved_search_keys ORDER BY 1, 2")
    return [dict(r) for r in searches] + [dict(r) for r in types] + [dict(r) for r in keys]


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


async def test_a_search_with_content_filters_stores_columns_and_match_keys(
    settings: HangarSettings,
) -> None:
    _, key = await new_account(settings.database_url, "trader")
    filters = {
        "q": "  Vexor  NAVY (",
        "ship": True,
        "category_id": 6,
        "group_id": 26,
        "bpc": False,
        "system_id": 30000142,
        "min_reward_per_m3": 0,
    }
    copies = {"bpc": True, "min_runs": 1, "max_runs": 10, "min_me": 8, "max_me": 10,
              "min_te": 12, "max_te": 20}  # fmt: skip
    async with client_of(account_api_settings(settings)) as client:
        created = await client.post(
            "/v1/searches", json={"name": "vexors", "filters": filters}, headers=bearer(key)
        )
        assert created.status_code == 201, created.text
        assert created.json()["filters"] == {**filters, "min_reward_per_m3": 0.0}
        search_id = created.json()["search_id"]
        (row,) = await fetch(settings.database_url, "SELECT * FROM saved_searches")
        assert row["q_pattern"] == r"(^|[^[:alnum:]])vexor[[:space:]]+navy[[:space:]]+\("
        assert [row[name] for name in ("ship", "category_id", "group_id", "bpc")] == [
            True, 6, 26, False,
        ]  # fmt: skip
        assert (row["system_id"], row["min_reward_per_m3"]) == (30000142, 0.0)
        keys = await fetch(settings.database_url, "SELECT * FROM saved_search_keys")
        assert [(k["match_key"], k["search_id"]) for k in keys] == [("word:vex", search_id)]

        replaced = await client.put(
            f"/v1/searches/{search_id}",
            json={"name": "copies", "filters": {**copies, "q": "rifter blue"}},
            headers=bearer(key),
        )
        assert replaced.status_code == 200, replaced.text
        (row,) = await fetch(settings.database_url, "SELECT * FROM saved_searches")
        assert {name: row[name] for name in copies} == copies
        assert row["ship"] is None
        keys = await fetch(settings.database_url, "SELECT match_key FROM saved_search_keys")
        assert [k["match_key"] for k in keys] == ["word:rif"]

        typed = await client.put(
            f"/v1/searches/{search_id}",
            json={"name": "typed", "filters": {"contains_type_id": [691], **copies}},
            headers=bearer(key),
        )
        assert typed.status_code == 200, typed.text
    assert await fetch(settings.database_url, "SELECT * FROM saved_search_keys") == []


BAD_BODIES: list[tuple[str, Any, str]] = [
    ("empty price range", {**WATCH, "filters": {"min_price": 5, "max_price": 1}}, "filters"),
    ("unknown filter", {**WATCH, "filters": {"colour": "red"}}, "colour"),
    ("unknown field", {**WATCH, "owner": 7}, "owner"),
    ("paging is no filter", {**WATCH, "filters": {"limit": 5}}, "filters"),
    ("facets are no filter", {**WATCH, "filters": {"facets": True}}, "filters"),
    ("unknown security class", {**WATCH, "filters": {"security": "wormhole"}}, "security"),
    ("gone never matches new", {**WATCH, "filters": {"status": "gone"}}, "filters"),
    ("copy bounds need a copy", {**WATCH, "filters": {"bpc": False, "min_me": 8}}, "filters"),
    ("a ship is no non-ship", {**WATCH, "filters": {"ship": False, "category_id": 6}}, "filters"),
    (
        "reward per m3 needs couriers",
        {**WATCH, "filters": {"type": ["item_exchange"], "min_reward_per_m3": 100}},
        "filters",
    ),
    ("empty runs range", {**WATCH, "filters": {"min_runs": 5, "max_runs": 1}}, "filters"),
    ("short name search", {**WATCH, "filters": {"q": "ab"}}, "q"),
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
