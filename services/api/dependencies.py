"""The app's typed state (built in the lifespan) and the ``Annotated`` dependency aliases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from services.api.cursor import CursorCodec
from services.api.settings import ApiSettings


@dataclass(frozen=True, slots=True)
class ApiState:
    """Everything the lifespan creates; held in ``app.state.api`` while the app runs."""

    settings: ApiSettings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    cursors: CursorCodec


def get_state(request: Request) -> ApiState:
    state = getattr(request.app.state, "api", None)
    if not isinstance(state, ApiState):
        raise RuntimeError("the API's lifespan has not started")
    return state


StateDep = Annotated[ApiState, Depends(get_state)]


def get_settings(state: StateDep) -> ApiSettings:
    return state.settings


def get_cursor_codec(state: StateDep) -> CursorCodec:
    return state.cursors


async def get_session(state: StateDep) -> AsyncIterator[AsyncSession]:
    """One session per request; it only reads, and closing it rolls its transaction back."""
    async with state.sessions() as session:
        yield session


SettingsDep = Annotated[ApiSettings, Depends(get_settings)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]
CursorCodecDep = Annotated[CursorCodec, Depends(get_cursor_codec)]
