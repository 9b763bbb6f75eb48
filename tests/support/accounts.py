"""Accounts, keys and API clients for the tests of saved searches and alerts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx

from common.db import asyncpg_dsn
from common.settings import HangarSettings
from services.api.account_store import create_account
from services.api.app import create_app
from services.api.settings import ApiSettings

TEST_SECRET = "test-cursor-secret-0123456789"


def account_api_settings(settings: HangarSettings, **overrides: Any) -> ApiSettings:
    values: dict[str, Any] = {
        **settings.model_dump(),
        "cursor_secret": TEST_SECRET,
        "response_cache_s": 0,
        **overrides,
    }
    return ApiSettings(**values)


async def new_account(database_url: str, name: str) -> tuple[int, str]:
    """(account id, API key) of a new account."""
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        account_id, key = await create_account(connection, name)
    finally:
        await connection.close()
    return account_id, key.key


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@asynccontextmanager
async def client_of(settings: ApiSettings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client,
    ):
        yield client


async def fetch(database_url: str, query: str, *args: object) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        return await connection.fetch(query, *args)
    finally:
        await connection.close()
