"""``GET /v1/types``: type names for autocomplete."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from services.api.dependencies import SettingsDep, StateDep, driver_connection
from services.api.http_validation import conditional_json
from services.api.name_schemas import SearchText, TypeMatch, TypeMatches
from services.api.names import search_types

router = APIRouter()


@router.get(
    "/v1/types",
    tags=["catalog"],
    summary="Type names for autocomplete",
    response_model=TypeMatches,
)
async def list_types(
    request: Request,
    q: Annotated[SearchText, Query(description="Part of a type name (3 to 100 characters).")],
    state: StateDep,
    settings: SettingsDep,
    limit: Annotated[int, Query(ge=1, le=50, description="At most this many types.")] = 10,
) -> Response:
    """Types whose name holds `q` (case-insensitive): the exact name first, then names that
    start with it, then the others; within each, published types and shorter names first.
    `is_ship` flags ships."""
    async with driver_connection(state.engine) as connection:
        rows = await search_types(connection, q, limit)
    body = TypeMatches(types=[TypeMatch.model_validate(row) for row in rows])
    return conditional_json(request, body, settings.cache_max_age_s)
