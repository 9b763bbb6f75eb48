"""The contract browser: HTML pages served by the API process, and its offline API docs."""

from __future__ import annotations

from fastapi import FastAPI

from services.api.web.docs import router as docs_router
from services.api.web.errors import install_html_errors
from services.api.web.pages import router as pages_router
from services.api.web.rendering import STATIC_DIR
from services.api.web.static import StaticAssets


def install_web(app: FastAPI) -> None:
    """Mount the pages, their static files and ``/docs`` / ``/redoc`` on ``app`` (created
    with ``docs_url=None, redoc_url=None``); call after the JSON error handlers are set."""
    app.include_router(pages_router)
    app.include_router(docs_router)
    app.mount("/static", StaticAssets(directory=STATIC_DIR), name="static")
    install_html_errors(app)
