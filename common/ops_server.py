"""``/metrics`` (Prometheus) and ``/healthz`` of the worker processes: a small ASGI app served
by uvicorn inside the worker's own event loop."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable, Iterator

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

HealthCheck = Callable[[], bool]


def ops_app(healthy: HealthCheck) -> Starlette:
    async def metrics(_: Request) -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    async def healthz(_: Request) -> JSONResponse:
        if healthy():
            return JSONResponse({"status": "ok"})
        return JSONResponse({"status": "unhealthy"}, status_code=503)

    return Starlette(routes=[Route("/metrics", metrics), Route("/healthz", healthz)])


class _EmbeddedServer(uvicorn.Server):
    """uvicorn inside a process that handles its own signals: it must not take them over."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class OpsServer:
    def __init__(self, host: str, port: int, healthy: HealthCheck) -> None:
        self._host = host
        self._port = port
        self._healthy = healthy
        self._socket: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        assert self._socket is not None
        port: int = self._socket.getsockname()[1]
        return port

    async def start(self) -> None:
        """Bind now (a port in use fails here, with ``OSError``), then serve in the background."""
        sock = socket.create_server((self._host, self._port), reuse_port=False)
        sock.setblocking(False)
        self._socket = sock
        config = uvicorn.Config(
            ops_app(self._healthy), lifespan="off", log_config=None, access_log=False
        )
        self._server = _EmbeddedServer(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]), name="ops-server")

    async def close(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task
        if self._socket is not None:
            self._socket.close()
