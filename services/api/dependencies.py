"""The app's typed state (built in the lifespan) and the ``Annotated`` dependency aliases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.api.cursor import CursorCodec
from services.api.settings import ApiSettings


@dataclass(frozen=True, slots=True)
class ApiState:
    """Everything the lifespan creates; held in ``app.state.api`` while the app runs."""

    settings: ApiSettings
    engine: AsyncEngine
    cursors: CursorCodec


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


async def get_session(state: StateDep) -> AsyncIterator[AsyncConnection]:
    """The request's database session: one pooled Core connection in autocommit mode, where
    every statement is its own read-only transaction (the API never writes)."""
    async with state.engine.connect() as connection:
        yield connection


SettingsDep = Annotated[ApiSettings, Depends(get_settings)]
SessionDep = Annotated[AsyncConnection, Depends(get_session)]
CursorCodecDep = Annotated[CursorCodec, Depends(get_cursor_codec)]
