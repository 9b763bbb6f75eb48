"""HTTP routes: parse and validate, call the query service, shape and cache the response."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from starlette.responses import Response

from services.api import queries
from services.api.contract_list import PageStart, read_page, start_page
from services.api.cursor import InvalidCursorError
from services.api.dependencies import (
    ApiState,
    SessionDep,
    SettingsDep,
    StateDep,
    get_state,
)
from services.api.direct_route import query_model, served_by
from services.api.encoding import json_bytes
from services.api.errors import RETRY_AFTER_S, ApiError
from services.api.http_validation import conditional_body, conditional_json
from services.api.names import add_detail_names
from services.api.replica import REPLICA_LAG_HEADER
from services.api.schemas import (
    MAX_ID,
    ContractDetail,
    ContractListPage,
    ContractListQuery,
    ErrorDetail,
    ErrorResponse,
    HealthStatus,
    RegionCount,
    RegionFreshness,
    RegionList,
    Stats,
    StatusCount,
    TypeCount,
)

log = structlog.get_logger(__name__)

router = APIRouter()

_SUMMARY_EXAMPLE: dict[str, Any] = {
    "contract_id": 190319637,
    "region_id": 10000002,
    "type": "auction",
    "status": "outstanding",
    "issuer_id": 2112625428,
    "issuer_corporation_id": 98000001,
    "for_corporation": False,
    "date_issued": "2025-01-02T03:04:05Z",
    "date_expired": "2025-01-09T03:04:05Z",
    "days_to_complete": 0,
    "price": "150000000.00",
    "reward": "0.00",
    "collateral": "0.00",
    "buyout": "250000000.00",
    "volume": 15000.0,
    "start_location_id": 60003760,
    "end_location_id": 60003760,
    "title": "Raven, fitted",
    "first_seen_at": "2025-01-02T03:10:00Z",
    "last_seen_at": "2025-01-03T09:00:00Z",
    "gone_at": None,
}


def _error_example(code: str, message: str) -> dict[str, Any]:
    return {
        "model": ErrorResponse,
        "description": message,
        "content": {"application/json": {"example": {"error": {"code": code, "message": message}}}},
    }


_INVALID = {
    "model": ErrorResponse,
    "description": "Invalid parameters: one detail per problem.",
    "content": {
        "application/json": {
            "example": {
                "error": {
                    "code": "validation_error",
                    "message": "invalid request parameters",
                    "details": [
                        {
                            "location": ["query", "limit"],
                            "message": "Input should be less than or equal to 500",
                            "type": "less_than_equal",
                        }
                    ],
                }
            }
        }
    },
}
_UNAVAILABLE = _error_example("query_timeout", "the query took too long; narrow the filters")
_NOT_MODIFIED: dict[str, Any] = {"description": "Unchanged since the ETag in If-None-Match."}
_CACHED_HEADERS: dict[str, Any] = {
    "ETag": {"description": "Validator of this representation.", "schema": {"type": "string"}},
    "Cache-Control": {"description": "Freshness lifetime.", "schema": {"type": "string"}},
}


def _ok(example: dict[str, Any]) -> dict[str, Any]:
    return {"headers": _CACHED_HEADERS, "content": {"application/json": {"example": example}}}


def _page_start(query: ContractListQuery, state: ApiState) -> PageStart:
    """Where the request's page starts; 422 when its cursor is not valid for this request."""
    try:
        return start_page(query, state.cursors)
    except InvalidCursorError as error:
        raise ApiError(
            422,
            "invalid_cursor",
            str(error),
            [ErrorDetail(location=["query", "cursor"], message=str(error), type="invalid_cursor")],
        ) from error


async def list_contracts(
    request: Request,
    query: Annotated[ContractListQuery, Query()],
    state: StateDep,
) -> Response:
    """Contracts matching every given filter, one page at a time.

    Pages are keyset-paginated: pass `next_cursor` back as `cursor` with the same filters,
    `sort` and `order` (another combination is refused with 422). Paging is stable while
    contracts are added: no contract is returned twice and none that existed when paging
    started is skipped. Rows without a value for the sort key come last in both orders.

    `facets=true` adds `facets`: the matching contracts counted by contract type and by
    category of their offered items, for the filters (the cursor does not change them). To stay
    bounded on any table size, at most `facet_max_contracts` (10,000 by default) matching
    contracts are counted; when more match, `facets.complete` is false and every count is a
    lower bound ("at least").
    """
    start = _page_start(query, state)
    page = await state.pages.get_or_compute(
        query.model_dump_json(), lambda: _contract_page(start, state)
    )
    now = time.monotonic()
    return conditional_body(
        request, page.body, state.settings.cache_max_age_s, etag=page.etag, age_s=page.age(now)
    )


async def _contract_page(start: PageStart, state: ApiState) -> bytes:
    settings = state.settings
    page = await read_page(
        state,
        start,
        state.cursors,
        settings.count_exact_threshold,
        settings.facet_max_contracts,
    )
    total = None
    if page.total is not None:
        value, exact = page.total
        total = {"value": value, "kind": "exact" if exact else "estimated"}
    # The rows as they are (a ContractListPage's JSON, without building one: see encoding.py).
    facets = None
    if page.facets is not None:
        facets = {
            "counted": page.facets.counted,
            "complete": page.facets.complete,
            "by_type": page.facets.by_type,
            "by_category": page.facets.by_category,
        }
    body = {
        "items": page.rows,
        "next_cursor": page.next_cursor,
        "total": total,
        "facets": facets,
    }
    return json_bytes(body)


async def _serve_list_contracts(request: Request) -> Response:
    """``list_contracts`` with what FastAPI would resolve for its parameters (see
    direct_route.py): the validated query and the app's state."""
    query = query_model(ContractListQuery, request.query_params)
    return await list_contracts(request, query, await get_state(request))


router.add_api_route(
    "/v1/contracts",
    list_contracts,
    methods=["GET"],
    tags=["contracts"],
    summary="List contracts",
    response_model=ContractListPage,
    responses={
        200: _ok({"items": [_SUMMARY_EXAMPLE], "next_cursor": "eyJ2IjoxLC...", "total": None}),
        304: _NOT_MODIFIED,
        422: _INVALID,
        503: _UNAVAILABLE,
    },
    route_class_override=served_by(
        _serve_list_contracts, query="query", resolves={"state": get_state}
    ),
)


@router.get(
    "/v1/contracts/{contract_id}",
    tags=["contracts"],
    summary="One contract with its items and bids",
    response_model=ContractDetail,
    responses={
        200: _ok(
            {
                **_SUMMARY_EXAMPLE,
                "items": [
                    {
                        "record_id": 3013297282,
                        "type_id": 638,
                        "quantity": 1,
                        "is_included": True,
                        "item_id": 1035740470913,
                        "is_blueprint_copy": None,
                        "material_efficiency": None,
                        "time_efficiency": None,
                        "runs": None,
                    }
                ],
                "bids": [
                    {
                        "bid_id": 1234567,
                        "amount": "160000000.00",
                        "date_bid": "2025-01-02T05:00:00Z",
                    }
                ],
            }
        ),
        304: _NOT_MODIFIED,
        404: _error_example("not_found", "no contract 190319637"),
        422: _INVALID,
        503: _UNAVAILABLE,
    },
)
async def get_contract(
    request: Request,
    contract_id: Annotated[int, Path(gt=0, le=MAX_ID, examples=[190319637])],
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    found = await queries.get_contract(session, contract_id)
    if found is None:
        raise ApiError(404, "not_found", f"no contract {contract_id}")
    contract, contract_items = dict(found.contract), [dict(item) for item in found.items]
    await add_detail_names(session, contract, contract_items)
    detail = ContractDetail.model_validate(
        {**contract, "items": contract_items, "bids": [dict(bid) for bid in found.bids]}
    )
    max_age = settings.gone_cache_max_age_s if detail.status == "gone" else settings.cache_max_age_s
    return conditional_json(request, detail, max_age)


@router.get(
    "/v1/regions",
    tags=["freshness"],
    summary="Regions and how fresh their data is",
    response_model=RegionList,
    responses={
        200: _ok(
            {
                "regions": [
                    {
                        "region_id": 10000002,
                        "last_sweep_at": "2025-01-03T09:00:12Z",
                        "generation": "2025-01-03T08:58:41Z",
                        "swept_contracts": 34012,
                        "outstanding_contracts": 34010,
                    }
                ]
            }
        ),
        304: _NOT_MODIFIED,
        503: _UNAVAILABLE,
    },
)
async def list_regions(
    request: Request, session: SessionDep, settings: SettingsDep, state: StateDep
) -> Response:
    """Every region that has been swept or has contracts: when its newest complete sweep was
    applied, the ESI generation (Last-Modified) it read, and its outstanding contracts now."""
    rows = await queries.region_freshness(session)
    lag = await state.replica_lag.seconds(session) if settings.database_read_url else None
    regions = RegionList(
        regions=[RegionFreshness.model_validate(dict(row)) for row in rows],
        replica_lag_seconds=lag,
    )
    response = conditional_json(request, regions, settings.cache_max_age_s)
    if lag is not None:
        response.headers[REPLICA_LAG_HEADER] = f"{lag:.3f}"
    return response


@router.get(
    "/v1/stats",
    tags=["freshness"],
    summary="Contract counts by status, region and type",
    response_model=Stats,
    responses={
        200: _ok(
            {
                "by_status": [
                    {"status": "outstanding", "contracts": 45012},
                    {"status": "gone", "contracts": 120344},
                ],
                "by_region": [{"region_id": 10000002, "outstanding": 34010, "gone": 90211}],
                "by_type": [{"type": "item_exchange", "outstanding": 38001, "gone": 100110}],
            }
        ),
        304: _NOT_MODIFIED,
        503: _UNAVAILABLE,
    },
)
async def stats(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    rows = await queries.contract_stats(session)
    body = Stats(
        by_status=[
            StatusCount(status=status, contracts=rows.by_status.get(status, 0))
            for status in ("outstanding", "gone")
        ],
        by_region=[
            RegionCount(
                region_id=region_id,
                outstanding=counts.get("outstanding", 0),
                gone=counts.get("gone", 0),
            )
            for region_id, counts in sorted(rows.by_region.items())
        ],
        by_type=[
            TypeCount(
                type=contract_type,
                outstanding=counts.get("outstanding", 0),
                gone=counts.get("gone", 0),
            )
            for contract_type, counts in sorted(rows.by_type.items())
        ],
    )
    return conditional_json(request, body, settings.cache_max_age_s)


_NO_STORE = {"Cache-Control": "no-store"}


@router.get("/healthz", tags=["health"], summary="The process is alive")
async def healthz() -> JSONResponse:
    return JSONResponse({"status": "ok"}, headers=_NO_STORE)


@router.get(
    "/readyz",
    tags=["health"],
    summary="The database answers",
    response_model=HealthStatus,
    responses={
        503: {
            "model": HealthStatus,
            "description": "The database does not answer, or the read replica lags too far.",
        }
    },
)
async def readyz(state: StateDep) -> JSONResponse:
    lag: float | None = None
    try:
        async with asyncio.timeout(state.settings.readiness_timeout_s):
            async with state.engine.connect() as connection:
                await queries.ping(connection)
                if state.settings.database_read_url:
                    lag = await state.replica_lag.seconds(connection)
    except Exception as error:  # any failure means "not ready"; the reason is logged
        log.warning("not ready", error=repr(error))
        return JSONResponse(
            {"status": "unavailable"},
            status_code=503,
            headers={**_NO_STORE, "Retry-After": RETRY_AFTER_S},
        )
    if lag is not None:
        headers = {**_NO_STORE, REPLICA_LAG_HEADER: f"{lag:.3f}"}
        if lag > state.settings.replica_max_lag_s:
            log.warning("not ready: read replica behind", lag_seconds=lag)
            return JSONResponse(
                {"status": "replica_lagging", "replica_lag_seconds": lag},
                status_code=503,
                headers={**headers, "Retry-After": RETRY_AFTER_S},
            )
        return JSONResponse({"status": "ok", "replica_lag_seconds": lag}, headers=headers)
    return JSONResponse({"status": "ok"}, headers=_NO_STORE)
