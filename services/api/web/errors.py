"""Errors as pages for people: a browser asking for a page that is not there gets an HTML 404
that says so; API clients (``/v1/...``, or not asking for HTML) keep the JSON errors."""

from __future__ import annotations

import inspect

from fastapi import FastAPI
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from services.api.web.pages import Problem, error_page

JSON_PREFIXES = ("/v1/", "/metrics", "/healthz", "/readyz", "/openapi.json")


def wants_html(request: Request) -> bool:
    path = request.url.path
    if path.startswith(JSON_PREFIXES):
        return False
    return "text/html" in request.headers.get("accept", "")


def install_html_errors(app: FastAPI) -> None:
    """Answer HTTP errors with a page for browsers, delegating the rest to the JSON handler
    already installed."""
    json_handler = app.exception_handlers[StarletteHTTPException]

    async def on_http_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, StarletteHTTPException)
        if not wants_html(request):
            response = json_handler(request, error)
            return await response if inspect.isawaitable(response) else response
        if error.status_code == 404:
            problem = Problem("address", f"there is no page at {request.url.path}")
            return error_page(request, 404, "Page not found", [problem])
        detail = error.detail if isinstance(error.detail, str) else "the request failed"
        return error_page(
            request, error.status_code, "Request failed", [Problem("request", detail)]
        )

    app.add_exception_handler(StarletteHTTPException, on_http_error)
