"""``GET /v1/locations``: region, system and station names for autocomplete."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from services.api.dependencies import SettingsDep, StateDep, driver_connection
from services.api.http_validation import conditional_json
from services.api.location_schemas import (
    LOCATION_KINDS,
    LocationKind,
    LocationMatch,
    LocationMatches,
    LocationSearchText,
)
from services.api.location_search import search_locations

router = APIRouter()


@router.get(
    "/v1/locations",
    tags=["catalog"],
    summary="Region, system and station names for autocomplete",
    response_model=LocationMatches,
)
async def list_locations(
    request: Request,
    q: Annotated[
        LocationSearchText,
        Query(
            description=(
                "Part of a name (2 to 100 characters, two letters or digits in a row; % and _ "
                "match themselves). Two characters find the names starting with them."
            )
        ),
    ],
    state: StateDep,
    settings: SettingsDep,
    limit: Annotated[int, Query(ge=1, le=50, description="At most this many places.")] = 10,
    kind: Annotated[LocationKind | None, Query(description="Only places of this kind.")] = None,
) -> Response:
    """Places whose name holds `q` (case-insensitive): the exact name first, then names that
    start with it, then names with a word starting with it, then the others; within each,
    regions, systems, stations, then structures, shorter names first. Systems and stations
    carry their system, region and security status."""
    kinds = LOCATION_KINDS if kind is None else (kind,)
    async with driver_connection(state) as connection:
        rows = await search_locations(connection, q, limit, kinds)
    body = LocationMatches(locations=[LocationMatch.model_validate(row) for row in rows])
    return conditional_json(request, body, settings.cache_max_age_s)
