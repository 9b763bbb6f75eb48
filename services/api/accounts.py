"""The account routes under one router, included by the app factory (whose lifespan enters
``account_lifespan`` for their resources)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from services.api import alerts, searches
from services.api.account_state import AccountStateDep
from services.api.auth import AccountDep
from services.api.schemas import ErrorResponse

router = APIRouter()


class AccountOut(BaseModel):
    account_id: int
    name: str


@router.get(
    "/v1/account",
    tags=["accounts"],
    response_model=AccountOut,
    responses={401: {"model": ErrorResponse, "description": "No, unknown or revoked API key."}},
)
async def whoami(account: AccountDep, state: AccountStateDep) -> Any:
    """The account the API key belongs to."""
    async with state.pool.acquire() as connection:
        name = await connection.fetchval("SELECT name FROM accounts WHERE account_id = $1", account)
    return {"account_id": account, "name": name}


router.include_router(searches.router)
router.include_router(alerts.router)
