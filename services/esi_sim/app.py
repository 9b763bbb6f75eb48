"""The simulated ESI as a FastAPI application.

Every route exists unversioned without a trailing slash (``/contracts/public/{region_id}``,
the 2025 OpenAPI style) and under ``/v1`` and ``/latest`` (the legacy Swagger style), each
with and without the trailing slash.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import datetime

from fastapi import FastAPI
from fastapi.exception_handlers import http_exception_handler
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from services.esi_sim.admin import PREFIX, admin_router
from services.esi_sim.handler import EsiHandler, utc_now
from services.esi_sim.universe import universe_router
from services.esi_sim.world import SimWorld

VERSION_PREFIXES = ("", "/v1", "/latest")


def _paths(route: str) -> list[str]:
    return [prefix + route + slash for prefix in VERSION_PREFIXES for slash in ("", "/")]


def create_app(
    world: SimWorld,
    *,
    auto_advance: bool = False,
    page_size: int = 1000,
    clock: Callable[[], float] = time.monotonic,
    wall: Callable[[], datetime] = utc_now,
    error_limit: int = 100,
    error_window: float = 60.0,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> FastAPI:
    """An ESI stand-in serving ``world``.

    ``auto_advance``: start a new generation whenever the current one's ``Expires`` has passed
    (checked on each request, by wall time). ``page_size``: rows per page (ESI: 1000).
    ``clock``/``wall``/``sleep`` can be replaced in tests; ``error_limit`` errors per
    ``error_window`` seconds are allowed before 420s.
    """
    handler = EsiHandler(
        world,
        auto_advance=auto_advance,
        page_size=page_size,
        clock=clock,
        wall=wall,
        error_limit=error_limit,
        error_window=error_window,
        sleep=sleep,
    )
    app = FastAPI(
        title="Hangar Bay ESI simulator",
        redirect_slashes=False,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.world = world
    app.state.handler = handler

    async def regions(request: Request) -> Response:
        return await handler.serve(request, "regions", None)

    async def contracts(request: Request, region_id: str) -> Response:
        return await handler.serve(request, "contracts", region_id)

    async def items(request: Request, contract_id: str) -> Response:
        return await handler.serve(request, "items", contract_id)

    async def bids(request: Request, contract_id: str) -> Response:
        return await handler.serve(request, "bids", contract_id)

    routes: list[tuple[str, Callable[..., Awaitable[Response]]]] = [
        ("/universe/regions", regions),
        ("/contracts/public/items/{contract_id}", items),
        ("/contracts/public/bids/{contract_id}", bids),
        ("/contracts/public/{region_id}", contracts),
    ]
    for route, endpoint in routes:
        for path in _paths(route):
            app.add_api_route(path, endpoint, methods=["GET"], include_in_schema=False)

    app.include_router(admin_router(handler))
    app.include_router(universe_router())

    async def not_found(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if request.url.path.startswith(PREFIX):
            return await http_exception_handler(request, exc)
        return handler.unrouted(exc.status_code)

    app.add_exception_handler(StarletteHTTPException, not_found)
    return app
