"""Serving the API with uvicorn (``hangar-bay api --host --port``), in one or more processes.

``HANGAR_API_WORKERS`` (``ApiSettings.api_workers``) worker processes share the listening
socket; each builds its own app, engine and connection pool from the settings the parent
read, so every worker signs cursors with the same secret (also the random default one).
"""

from __future__ import annotations

import contextlib
import functools
import sys

import uvicorn
from fastapi import FastAPI
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess

from common.logs import configure_logging
from services.api.app import create_app
from services.api.settings import ApiSettings

WORKER_HEALTHCHECK_TIMEOUT_S = 120


def serving_app(settings: ApiSettings) -> FastAPI:
    """The app of one serving process, with its logging set up (a worker process starts with
    a fresh interpreter)."""
    configure_logging(settings.log_level, settings.log_json)
    return create_app(settings)


def server_config(
    settings: ApiSettings, host: str | None = None, port: int | None = None
) -> uvicorn.Config:
    """The uvicorn configuration of ``run``; the app is built in each serving process."""
    return uvicorn.Config(
        # A picklable factory, not an import string: workers get the parent's settings.
        functools.partial(serving_app, settings),
        factory=True,
        host=host if host is not None else settings.api_host,
        port=port if port is not None else settings.api_port,
        workers=settings.api_workers,
        # Named, not "auto": a missing one fails at start instead of silently serving with the
        # pure-Python parser and event loop (several times the CPU per request).
        loop="uvloop",
        http="httptools",
        log_config=None,
        server_header=False,
        proxy_headers=True,
        timeout_graceful_shutdown=10,
        # A spawned worker imports the whole app before it can answer the supervisor's pings;
        # on a busy machine that takes longer than uvicorn's 5 s, and the supervisor would kill
        # and respawn every worker in a loop.
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_TIMEOUT_S,
    )


def run(settings: ApiSettings, host: str | None = None, port: int | None = None) -> None:
    """Serve until interrupted; ``host``/``port`` override the settings when given."""
    configure_logging(settings.log_level, settings.log_json)
    config = server_config(settings, host, port)
    if config.workers > 1:
        # What uvicorn.run does for workers, which it only allows for an import string.
        Multiprocess(config, sockets=[config.bind_socket()]).run()
        return
    server = uvicorn.Server(config)
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    if not server.started:  # e.g. the port is taken: fail as uvicorn.run does
        sys.exit(STARTUP_FAILURE)
