"""The API's app factory: nothing happens at import, the engine lives in the lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.gzip import GZipMiddleware

from common.db import create_engine
from services.api.cursor import CursorCodec
from services.api.dependencies import ApiState
from services.api.errors import CatchAllMiddleware, install_error_handlers
from services.api.metrics import ApiMetrics, MetricsMiddleware
from services.api.routes import router
from services.api.settings import ApiSettings

DESCRIPTION = """
Read-only access to every public contract of EVE Online that Hangar Bay has collected.

* Money is a JSON string with two decimals (`"1500000.00"`): exact, as stored.
* Timestamps are ISO-8601 UTC with `Z`.
* Lists are keyset-paginated with an opaque `next_cursor`.
* Responses carry `ETag` and `Cache-Control`; send `If-None-Match` to get `304`.
* Errors are `{"error": {"code", "message", "details"}}`.
"""


def _version() -> str:
    try:
        return version("hangar-bay")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0.0.0"


def _server_settings(settings: ApiSettings) -> dict[str, str]:
    """Session settings of every API connection: bounded statements, read-only, no JIT."""
    return {
        "statement_timeout": str(settings.statement_timeout_ms),
        "idle_in_transaction_session_timeout": str(max(settings.statement_timeout_ms * 4, 60_000)),
        "default_transaction_read_only": "on",
        "jit": "off",
        "application_name": "hangar-bay-api",
    }


def create_app(settings: ApiSettings) -> FastAPI:
    metrics = ApiMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(
            settings.database_url,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            pool_timeout=settings.db_pool_timeout_s,
            # Every statement is its own read-only transaction: no BEGIN/ROLLBACK round trips.
            isolation_level="AUTOCOMMIT",
            connect_args={
                "timeout": settings.connect_timeout_s,
                "server_settings": _server_settings(settings),
            },
        )
        app.state.api = ApiState(
            settings=settings,
            engine=engine,
            cursors=CursorCodec(settings.cursor_secret.get_secret_value().encode()),
        )
        try:
            yield
        finally:
            del app.state.api
            await engine.dispose()

    app = FastAPI(
        title="Hangar Bay API",
        version=_version(),
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_tags=[
            {"name": "contracts", "description": "Public contracts, their items and bids."},
            {"name": "freshness", "description": "How current the data is, and its size."},
            {"name": "health", "description": "Liveness and readiness probes."},
        ],
    )
    app.include_router(router)
    app.add_route("/metrics", metrics.exposition, include_in_schema=False)
    install_error_handlers(app, metrics)
    # Added innermost first: Metrics -> GZip -> CORS -> CatchAll -> routes.
    app.add_middleware(CatchAllMiddleware)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET"],
            allow_headers=["If-None-Match"],
            expose_headers=["ETag", "Retry-After"],
            max_age=600,
        )
    app.add_middleware(GZipMiddleware, minimum_size=settings.gzip_minimum_size, compresslevel=5)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app
