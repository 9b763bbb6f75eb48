"""``/v1/searches``: an account's saved searches (create, read, replace, delete)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response

from services.api.account_state import AccountStateDep
from services.api.auth import AccountDep
from services.api.errors import ApiError
from services.api.limited_body import LimitedBodyRoute
from services.api.schemas import MAX_ID, ErrorResponse
from services.api.search_schemas import SearchIn, SearchList, SearchOut
from services.api.search_store import (
    TooManySearchesError,
    create_search,
    delete_search,
    get_search,
    list_searches,
    replace_search,
)

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "The body is not readable as JSON text."},
    401: {"model": ErrorResponse, "description": "No, unknown or revoked API key."},
    413: {"model": ErrorResponse, "description": "Request body too large."},
    422: {"model": ErrorResponse, "description": "Invalid search (one detail per problem)."},
    429: {"model": ErrorResponse, "description": "The key's rate limit is exceeded."},
}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "No such search of this account."}
}

router = APIRouter(prefix="/v1/searches", tags=["searches"], route_class=LimitedBodyRoute)

SearchId = Annotated[int, Path(gt=0, le=MAX_ID)]


def _not_found(search_id: int) -> ApiError:
    return ApiError(404, "not_found", f"no search {search_id}")


@router.post("", status_code=201, response_model=SearchOut, responses=_ERRORS)
async def create(search: SearchIn, account: AccountDep, state: AccountStateDep) -> Any:
    """Save a search. Contracts the stream receives from now on and that match its filters
    become alerts (one per contract)."""
    async with state.pool.acquire() as connection:
        try:
            return await create_search(
                connection, account, search, state.settings.max_searches_per_account
            )
        except TooManySearchesError as error:
            raise ApiError(409, "too_many_searches", str(error)) from error


@router.get("", response_model=SearchList, responses=_ERRORS)
async def list_all(account: AccountDep, state: AccountStateDep) -> Any:
    async with state.pool.acquire() as connection:
        return {"items": await list_searches(connection, account)}


@router.get("/{search_id}", response_model=SearchOut, responses={**_ERRORS, **_NOT_FOUND})
async def read(search_id: SearchId, account: AccountDep, state: AccountStateDep) -> Any:
    async with state.pool.acquire() as connection:
        found = await get_search(connection, account, search_id)
    if found is None:
        raise _not_found(search_id)
    return found


@router.put("/{search_id}", response_model=SearchOut, responses={**_ERRORS, **_NOT_FOUND})
async def replace(
    search_id: SearchId, search: SearchIn, account: AccountDep, state: AccountStateDep
) -> Any:
    """Replace every field of a search (its webhook secret is kept)."""
    async with state.pool.acquire() as connection:
        found = await replace_search(connection, account, search_id, search)
    if found is None:
        raise _not_found(search_id)
    return found


@router.delete("/{search_id}", status_code=204, responses={**_ERRORS, **_NOT_FOUND})
async def delete(search_id: SearchId, account: AccountDep, state: AccountStateDep) -> Response:
    """Delete a search and its alerts."""
    async with state.pool.acquire() as connection:
        if not await delete_search(connection, account, search_id):
            raise _not_found(search_id)
    return Response(status_code=204)
