"""Every error the API returns is ``{"error": {"code", "message", "details"}}`` JSON.

Validation errors are 422 with one detail per problem (without echoing the input); an unknown
contract or route is 404; a statement that hits the statement timeout, an unreachable database
or an exhausted connection pool is 503 with ``Retry-After``; anything else is a generic 500
whose cause is logged, never sent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import asyncpg
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, EmulatedDBAPIException
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.api.metrics import ApiMetrics
from services.api.schemas import ErrorBody, ErrorDetail, ErrorResponse

log = structlog.get_logger(__name__)

QUERY_CANCELED = "57014"  # statement_timeout (or a cancel request) fired
#: Connection exceptions, insufficient resources (too many connections, disk full, out of
#: memory) and the server refusing sessions (starting up, shutting down, admin shutdown).
UNAVAILABLE_SQLSTATE_CLASSES = ("08", "53", "57P")
RETRY_AFTER_S = "5"


class ApiError(Exception):
    """An error with a status, a stable code and a message that is safe to show."""

    def __init__(
        self,
        status_code: int,
        code: str,
        message: str,
        details: Sequence[ErrorDetail] = (),
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.message = message
        self.details = list(details)


def error_response(
    status_code: int,
    code: str,
    message: str,
    details: Sequence[ErrorDetail] = (),
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = ErrorResponse(error=ErrorBody(code=code, message=message, details=list(details)))
    all_headers = {"Cache-Control": "no-store", **(headers or {})}
    return JSONResponse(body.model_dump(mode="json"), status_code, headers=all_headers)


_VALUE_ERROR_PREFIX: Final = "Value error, "


def validation_message(error: Mapping[str, Any]) -> str:
    """One pydantic error in words: a project validator's own text, without the prefix
    pydantic puts before a ``ValueError``'s."""
    message = str(error.get("msg", "invalid value"))
    if error.get("type") == "value_error":
        return message.removeprefix(_VALUE_ERROR_PREFIX)
    return message


def _validation_details(errors: Sequence[Any]) -> list[ErrorDetail]:
    details = []
    for error in errors:
        location = [part if isinstance(part, int) else str(part) for part in error.get("loc", ())]
        message = validation_message(error)
        details.append(ErrorDetail(location=location, message=message, type=str(error["type"])))
    return details


def _database_unavailable(metrics: ApiMetrics, kind: str, message: str) -> JSONResponse:
    metrics.database_errors.labels(kind=kind).inc()
    return error_response(503, kind, message, headers={"Retry-After": RETRY_AFTER_S})


def install_error_handlers(app: FastAPI, metrics: ApiMetrics) -> None:
    async def on_api_error(_: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, ApiError)
        return error_response(error.status_code, error.code, error.message, error.details)

    async def on_validation_error(_: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        details = _validation_details(error.errors())
        return error_response(422, "validation_error", "invalid request parameters", details)

    async def on_http_error(_: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, StarletteHTTPException)
        codes = {404: "not_found", 405: "method_not_allowed"}
        code = codes.get(error.status_code, "http_error")
        message = error.detail if isinstance(error.detail, str) else "request failed"
        return error_response(error.status_code, code, message, headers=error.headers)

    def database_error(
        request: Request, error: Exception, sqlstate: str | None, *, invalidated: bool
    ) -> JSONResponse:
        if sqlstate == QUERY_CANCELED:
            log.warning("statement timeout", path=request.url.path)
            return _database_unavailable(
                metrics, "query_timeout", "the query took too long; narrow the filters or retry"
            )
        if invalidated or (sqlstate or "").startswith(UNAVAILABLE_SQLSTATE_CLASSES):
            log.warning("database unavailable", path=request.url.path, sqlstate=sqlstate)
            return _database_unavailable(
                metrics, "database_unavailable", "the database is unavailable; retry later"
            )
        log.error("database error", path=request.url.path, sqlstate=sqlstate, exc_info=error)
        return error_response(500, "internal_error", "internal server error")

    async def on_database_error(request: Request, error: Exception) -> JSONResponse:
        """Through SQLAlchemy (the driver's error is ``orig``)."""
        assert isinstance(error, DBAPIError)
        sqlstate = getattr(error.orig, "sqlstate", None)
        return database_error(request, error, sqlstate, invalidated=error.connection_invalidated)

    async def on_adapted_driver_error(request: Request, error: Exception) -> JSONResponse:
        """The driver's error as SQLAlchemy adapts it, when it escapes unwrapped (seen while
        the pool connects to a server that is starting up)."""
        sqlstate = getattr(error, "sqlstate", None)
        return database_error(request, error, sqlstate, invalidated=False)

    async def on_driver_error(request: Request, error: Exception) -> JSONResponse:
        """Straight from asyncpg (the list query's path)."""
        assert isinstance(error, asyncpg.PostgresError)
        return database_error(request, error, error.sqlstate, invalidated=False)

    async def on_unreachable_database(request: Request, error: Exception) -> JSONResponse:
        log.warning("database unreachable", path=request.url.path, error=repr(error))
        return _database_unavailable(
            metrics, "database_unavailable", "the database is unavailable; retry later"
        )

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(DBAPIError, on_database_error)
    app.add_exception_handler(EmulatedDBAPIException, on_adapted_driver_error)
    app.add_exception_handler(asyncpg.PostgresError, on_driver_error)
    # Connecting: refused or timed out (asyncpg raises OSError / TimeoutError), pool exhausted;
    # a connection lost during a statement run through asyncpg (ConnectionLostError).
    app.add_exception_handler(OSError, on_unreachable_database)
    app.add_exception_handler(PoolTimeoutError, on_unreachable_database)


class CatchAllMiddleware:
    """Turns any exception that escaped the handlers into a generic 500 JSON response.

    It sits inside Starlette's ServerErrorMiddleware so the exception stops here: logged once
    with its traceback, answered without internals.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            log.exception("unhandled error", path=scope.get("path"))
            if started:
                raise
            response = error_response(500, "internal_error", "internal server error")
            await response(scope, receive, send)
