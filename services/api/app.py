"""The API's app factory: nothing happens at import, the engine lives in the lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.gzip import GZipMiddleware
from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import create_async_engine

from common.db import sqlalchemy_url
from common.eve_notice import CCP_NOTICE
from services.api.account_state import account_lifespan
from services.api.accounts import router as account_router
from services.api.catalog_routes import router as catalog_router
from services.api.connection_gate import ConnectionGate
from services.api.cursor import CursorCodec
from services.api.dependencies import ApiState
from services.api.errors import CatchAllMiddleware, install_error_handlers
from services.api.location_routes import router as location_router
from services.api.metrics import ApiMetrics, MetricsMiddleware
from services.api.page_cache import PageCache
from services.api.replica import ReplicaLag
from services.api.routes import router
from services.api.settings import ApiSettings
from services.api.web import install_web

DESCRIPTION = """
Read-only access to every public contract of EVE Online that Hangar Bay has collected.

* Money is a JSON string with two decimals (`"1500000.00"`): exact, as stored.
* Timestamps are ISO-8601 UTC with `Z`.
* Lists are keyset-paginated with an opaque `next_cursor`.
* Responses carry `ETag` and `Cache-Control`; send `If-None-Match` to get `304`.
* Errors are `{"error": {"code", "message", "details"}}`.
"""
DESCRIPTION += "\n" + CCP_NOTICE + "\n"


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


def _numeric_as_text(dbapi_connection: Any, _record: Any) -> None:
    """``numeric`` values arrive as PostgreSQL's text of them: money is ``numeric(20, 2)``,
    whose text (``"1500000.00"``) is the API's JSON string as it is, rather than a ``Decimal``
    built per value and turned back into that text (pydantic models parse it as before)."""
    dbapi_connection.run_async(
        lambda connection: connection.set_type_codec(
            "numeric", schema="pg_catalog", encoder=str, decoder=str, format="text"
        )
    )


def _replace_closed_connection(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """At checkout, a connection the server has closed (restart, failover, terminated backend)
    is refused, and the pool opens another. asyncpg reads the server's goodbye and the socket's
    end as they come, so ``is_closed()`` knows without the round trip of a pre-ping; only a
    connection that died silently (a network partition) is discovered by its next statement,
    which fails with 503 and invalidates it."""
    if dbapi_connection.driver_connection.is_closed():
        raise DisconnectionError("the server closed the connection")


def create_app(settings: ApiSettings) -> FastAPI:
    metrics = ApiMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_async_engine(
            sqlalchemy_url(settings.read_database_url),
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            pool_timeout=settings.db_pool_timeout_s,
            # Every statement is its own read-only transaction: no BEGIN/ROLLBACK round trips.
            isolation_level="AUTOCOMMIT",
            connect_args={
                "timeout": settings.connect_timeout_s,
                "server_settings": _server_settings(settings),
            },
            # No pre-ping round trip per checkout (a query's worth of CPU and latency on every
            # request): a connection the server closed is recognised without one (below).
            pool_pre_ping=False,
        )
        event.listen(engine.sync_engine, "connect", _numeric_as_text)
        event.listen(engine.sync_engine, "checkout", _replace_closed_connection)
        app.state.api = ApiState(
            settings=settings,
            engine=engine,
            gate=ConnectionGate(
                settings.db_pool_size + settings.db_max_overflow,
                settings.db_pool_timeout_s,
                metrics.connection_wait,
            ),
            cursors=CursorCodec(settings.cursor_secret.get_secret_value().encode()),
            pages=PageCache(
                settings.response_cache_s,
                settings.response_cache_max_bytes,
                metrics.response_cache_lookups,
            ),
            replica_lag=ReplicaLag(),
        )
        try:
            async with account_lifespan(app):
                yield
        finally:
            del app.state.api
            await engine.dispose()

    app = FastAPI(
        title="Hangar Bay API",
        version=_version(),
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served offline by the web package
        redoc_url=None,
        openapi_tags=[
            {"name": "contracts", "description": "Public contracts, their items and bids."},
            {"name": "freshness", "description": "How current the data is, and its size."},
            {"name": "health", "description": "Liveness and readiness probes."},
            {"name": "catalog", "description": "EVE type names (CCP's data: see above)."},
            {"name": "searches", "description": "Saved searches of an account (API key)."},
            {"name": "alerts", "description": "Alerts of saved searches: stored and live."},
        ],
    )
    app.include_router(router)
    app.include_router(catalog_router)
    app.include_router(location_router)
    app.include_router(account_router)
    app.add_route("/metrics", metrics.exposition, include_in_schema=False)
    install_error_handlers(app, metrics)
    install_web(app)
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
    # Level 1 (nginx's default too): a page of contracts compresses ~3x faster than at level 5,
    # to a body ~15 % larger; CPU is what bounds the API's throughput.
    app.add_middleware(GZipMiddleware, minimum_size=settings.gzip_minimum_size, compresslevel=1)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app
