"""The app's typed state (built in the lifespan) and the ``Annotated`` dependency aliases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated

import asyncpg
from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.util import greenlet_spawn

from services.api.connection_gate import ConnectionGate
from services.api.cursor import CursorCodec
from services.api.page_cache import PageCache
from services.api.replica import ReplicaLag
from services.api.settings import ApiSettings


@dataclass(frozen=True, slots=True)
class ApiState:
    """Everything the lifespan creates; held in ``app.state.api`` while the app runs."""

    settings: ApiSettings
    engine: AsyncEngine
    gate: ConnectionGate
    cursors: CursorCodec
    pages: PageCache
    replica_lag: ReplicaLag


# Dependencies are coroutines: FastAPI would run plain functions in its thread pool.


async def get_state(request: Request) -> ApiState:
    state = getattr(request.app.state, "api", None)
    if not isinstance(state, ApiState):
        raise RuntimeError("the API's lifespan has not started")
    return state


StateDep = Annotated[ApiState, Depends(get_state)]


async def get_settings(state: StateDep) -> ApiSettings:
    return state.settings


async def get_cursor_codec(state: StateDep) -> CursorCodec:
    return state.cursors


@asynccontextmanager
async def core_connection(state: ApiState) -> AsyncIterator[AsyncConnection]:
    """One pooled Core connection in autocommit mode, where every statement is its own
    read-only transaction (the API never writes), taken in its turn at the pool."""
    async with state.gate.turn(), state.engine.connect() as connection:
        yield connection


async def get_session(state: StateDep) -> AsyncIterator[AsyncConnection]:
    """The request's database session (``core_connection``)."""
    async with core_connection(state) as connection:
        yield connection


class ConnectionLostError(ConnectionError):
    """The database connection broke during a statement (it has been invalidated)."""


@asynccontextmanager
async def driver_connection(state: ApiState) -> AsyncIterator[asyncpg.Connection]:
    """A pooled connection as asyncpg's own, for statements run straight through asyncpg (no
    SQLAlchemy connection, execution context or result objects). Same pool, same session
    settings as ``get_session``; a connection asyncpg finds broken is invalidated, so that the
    pool does not hand it out again, and reported as ``ConnectionLostError`` (503). A statement
    cancelled with its request is cancelled in PostgreSQL too and leaves the connection usable
    (asyncpg's doing; ``test_a_list_request_cancelled_mid_statement...`` holds it)."""
    async with state.gate.turn():
        pooled = await state.engine.raw_connection()
        try:
            driver = pooled.driver_connection
            assert isinstance(driver, asyncpg.Connection)
            try:
                yield driver
            except Exception as error:
                if not driver.is_closed():
                    raise
                pooled.invalidate(error)
                raise ConnectionLostError("the database connection was lost") from error
        finally:
            await greenlet_spawn(pooled.close)


SettingsDep = Annotated[ApiSettings, Depends(get_settings)]
SessionDep = Annotated[AsyncConnection, Depends(get_session)]
CursorCodecDep = Annotated[CursorCodec, Depends(get_cursor_codec)]
