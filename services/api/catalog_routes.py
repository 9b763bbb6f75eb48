"""``GET /v1/types``: type names for autocomplete; ``GET /v1/taxonomy``: categories and groups
with their outstanding contracts."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated

import redis.asyncio as aioredis
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from starlette.responses import Response

from services.api.dependencies import SettingsDep, StateDep, driver_connection
from services.api.http_validation import conditional_body, conditional_json
from services.api.kit.shared_cache import SharedCache
from services.api.name_schemas import Taxonomy, TypeMatch, TypeMatches, WordSearchText
from services.api.names import search_types
from services.api.settings import ApiSettings
from services.api.taxonomy import compute_taxonomy


@dataclass(frozen=True, slots=True)
class CatalogState:
    taxonomy: SharedCache


def _taxonomy_key(settings: ApiSettings) -> str:
    """One entry per database read (its URL's digest: no credentials in Redis keys)."""
    database = hashlib.sha256(settings.read_database_url.encode()).hexdigest()[:16]
    return f"{settings.name_prefix}:api:taxonomy:{database}"


@asynccontextmanager
async def catalog_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Runs inside the app's lifespan (FastAPI merges a router's), whose state holds the
    settings."""
    settings = app.state.api.settings
    assert isinstance(settings, ApiSettings)
    redis = aioredis.from_url(settings.redis_url, socket_timeout=2, socket_connect_timeout=2)
    cache = SharedCache(redis, _taxonomy_key(settings), settings.taxonomy_cache_s)
    app.state.catalog = CatalogState(taxonomy=cache)
    try:
        yield
    finally:
        del app.state.catalog
        await redis.aclose()


async def get_catalog_state(request: Request) -> CatalogState:
    state = getattr(request.app.state, "catalog", None)
    if not isinstance(state, CatalogState):
        raise RuntimeError("the catalog routes' lifespan has not started")
    return state


CatalogStateDep = Annotated[CatalogState, Depends(get_catalog_state)]

router = APIRouter(lifespan=catalog_lifespan)


@router.get(
    "/v1/types",
    tags=["catalog"],
    summary="Type names for autocomplete",
    response_model=TypeMatches,
)
async def list_types(
    request: Request,
    q: Annotated[
        WordSearchText,
        Query(
            description=(
                "Part of a type name: 3 to 100 characters, with a run of at least 3 letters or "
                "digits; every character matches itself."
            )
        ),
    ],
    state: StateDep,
    settings: SettingsDep,
    limit: Annotated[int, Query(ge=1, le=50, description="At most this many types.")] = 10,
) -> Response:
    """Types whose name holds `q` (case-insensitive, spaces collapsed): the exact name first,
    then names that start with it, then names where a word starts with it ('navy' finds
    'Vexor Navy Issue'), then the others; within each, published types and shorter names
    first. `is_ship` flags ships."""
    async with driver_connection(state) as connection:
        rows = await search_types(connection, q, limit)
    body = TypeMatches(types=[TypeMatch.model_validate(row) for row in rows])
    return conditional_json(request, body, settings.cache_max_age_s)


@router.get(
    "/v1/taxonomy",
    tags=["catalog"],
    summary="Item categories and groups with their outstanding contracts",
    response_model=Taxonomy,
)
async def taxonomy(
    request: Request, state: StateDep, settings: SettingsDep, catalog: CatalogStateDep
) -> Response:
    """Every item category, with its groups, that is published or that an outstanding contract
    offers an item of; each with `outstanding_contracts`, the outstanding contracts offering an
    item of it (a contract counts once per category and per group).

    **Freshness**: the counts are computed at most once per `taxonomy_cache_s` (5 minutes by
    default) for the whole deployment and served from a cache until then; once expired, the
    previous answer is still served while one computation runs, so they may be older by the
    time a count takes. `computed_at` says when they were computed.
    """

    async def compute() -> bytes:
        async with driver_connection(state) as connection:
            answer = await compute_taxonomy(connection, settings.taxonomy_timeout_ms)
        return answer.model_dump_json().encode()

    body = await catalog.taxonomy.get_or_compute(compute)
    return conditional_body(request, body, settings.cache_max_age_s)
