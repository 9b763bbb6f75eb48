"""Serving the API with uvicorn (``hangar-bay api --host --port``)."""

from __future__ import annotations

import uvicorn

from common.logs import configure_logging
from services.api.app import create_app
from services.api.settings import ApiSettings


def run(settings: ApiSettings, host: str | None = None, port: int | None = None) -> None:
    """Serve until interrupted; ``host``/``port`` override the settings when given."""
    configure_logging(settings.log_level, settings.log_json)
    uvicorn.run(
        create_app(settings),
        host=host if host is not None else settings.api_host,
        port=port if port is not None else settings.api_port,
        log_config=None,
        server_header=False,
        proxy_headers=True,
        timeout_graceful_shutdown=10,
    )
