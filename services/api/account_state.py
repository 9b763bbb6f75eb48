"""Resources of the account routes, created in their router's lifespan and closed there:
a small write pool (the contract routes' engine is read-only), Redis for rate limits, and the
alert feed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated

import asyncpg
import redis.asyncio as aioredis
from fastapi import Depends, FastAPI, Request

from common.db import asyncpg_dsn
from services.api.account_settings import AccountApiSettings
from services.api.alert_feed import AlertFeed


@dataclass(frozen=True, slots=True)
class AccountState:
    settings: AccountApiSettings
    pool: asyncpg.Pool
    redis: aioredis.Redis
    feed: AlertFeed


@asynccontextmanager
async def account_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Runs inside the app's lifespan, whose state holds the settings."""
    settings = app.state.api.settings
    assert isinstance(settings, AccountApiSettings)
    dsn = asyncpg_dsn(settings.database_url)
    pool = await asyncpg.create_pool(
        dsn,
        min_size=0,
        max_size=settings.account_db_pool_size,
        server_settings={"application_name": "hangar-bay-api-accounts", "TimeZone": "UTC"},
    )
    redis = aioredis.from_url(settings.redis_url, socket_timeout=2, socket_connect_timeout=2)
    feed = AlertFeed(dsn)
    await feed.start()
    app.state.accounts = AccountState(settings=settings, pool=pool, redis=redis, feed=feed)
    try:
        yield
    finally:
        del app.state.accounts
        await feed.close()
        await redis.aclose()
        await pool.close()


async def get_account_state(request: Request) -> AccountState:
    state = getattr(request.app.state, "accounts", None)
    if not isinstance(state, AccountState):
        raise RuntimeError("the account routes' lifespan has not started")
    return state


AccountStateDep = Annotated[AccountState, Depends(get_account_state)]
