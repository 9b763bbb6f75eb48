"""Helpers of the API tests: rows for the real tables, a client on the app with its lifespan.

Collected by pytest like every ``test_api*`` module, it holds no test of its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import insert

from common.db import Contract, ContractBid, ContractItem, RegionSweepState, create_engine
from services.api.app import create_app
from services.api.settings import ApiSettings

BASE_TIME = datetime(2025, 1, 1, tzinfo=UTC)
THE_FORGE = 10000002
DOMAIN = 10000043
JITA_44 = 60003760
AMARR_VIII = 60008494
TEST_SECRET = "test-cursor-secret-0123456789"


def api_settings(database_url: str, **overrides: Any) -> ApiSettings:
    # No response cache unless a test asks for one: most tests change the data between requests.
    values: dict[str, Any] = {
        "database_url": database_url,
        "cursor_secret": TEST_SECRET,
        "response_cache_s": 0,
    }
    values.update(overrides)
    return ApiSettings(**values)


def contract(contract_id: int, **overrides: Any) -> dict[str, Any]:
    """A contract row with plausible defaults; ``overrides`` set any column."""
    issued = BASE_TIME + timedelta(minutes=contract_id % 100_000)
    row: dict[str, Any] = {
        "contract_id": contract_id,
        "region_id": THE_FORGE,
        "type": "item_exchange",
        "issuer_id": 90000001,
        "issuer_corporation_id": 98000001,
        "date_issued": issued,
        "date_expired": issued + timedelta(days=14),
        "price": Decimal("1000000.00"),
        "reward": Decimal("0.00"),
        "collateral": Decimal("0.00"),
        "buyout": None,
        "volume": 10.0,
        "days_to_complete": 0,
        "start_location_id": JITA_44,
        "end_location_id": JITA_44,
        "for_corporation": False,
        "title": "",
        "status": "outstanding",
        "first_seen_at": issued + timedelta(minutes=5),
        "last_seen_at": issued + timedelta(hours=1),
        "gone_at": None,
        "source_last_modified": issued,
    }
    row.update(overrides)
    if row["status"] == "gone" and row["gone_at"] is None:
        row["gone_at"] = issued + timedelta(days=1)
    return row


def item(record_id: int, contract_id: int, type_id: int, **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "record_id": record_id,
        "contract_id": contract_id,
        "type_id": type_id,
        "quantity": 1,
        "is_included": True,
        "item_id": record_id * 10,
        "is_blueprint_copy": None,
        "material_efficiency": None,
        "time_efficiency": None,
        "runs": None,
    }
    row.update(overrides)
    return row


async def seed(
    database_url: str,
    contracts: Sequence[dict[str, Any]] = (),
    items: Sequence[dict[str, Any]] = (),
    bids: Sequence[dict[str, Any]] = (),
    sweeps: Sequence[dict[str, Any]] = (),
) -> None:
    """Insert rows into the real tables with SQLAlchemy Core, in one transaction."""
    engine = create_engine(database_url, pool_size=1)
    try:
        async with engine.begin() as connection:
            for model, rows in (
                (Contract, contracts),
                (ContractItem, items),
                (ContractBid, bids),
                (RegionSweepState, sweeps),
            ):
                if rows:
                    await connection.execute(insert(model), list(rows))
    finally:
        await engine.dispose()


@asynccontextmanager
async def api_client(settings: ApiSettings) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on the app, inside its lifespan (engine created, then disposed)."""
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client,
    ):
        yield client


def ids(response: httpx.Response) -> list[int]:
    assert response.status_code == 200, response.text
    return [row["contract_id"] for row in response.json()["items"]]


async def all_pages(
    client: httpx.AsyncClient, params: dict[str, Any], limit: int
) -> list[dict[str, Any]]:
    """Every row of a listing, following next_cursor page by page."""
    rows: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(1000):
        page_params = {**params, "limit": limit}
        if cursor is not None:
            page_params["cursor"] = cursor
        response = await client.get("/v1/contracts", params=page_params)
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body["items"]) <= limit
        rows.extend(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return rows
    raise AssertionError("pagination did not end")
