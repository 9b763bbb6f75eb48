"""Servers the delivery tests start: an HTTPS webhook receiver with a self-signed certificate
(made by ``openssl``), and the API on a real port (server-sent events need a real server)."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.stack.servers import free_port


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """(certificate, key) for ``localhost`` and 127.0.0.1; the certificate is its own CA."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert),
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-addext", "basicConstraints=critical,CA:TRUE",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    port: int
    requests: list[Received] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"https://localhost:{self.port}{path}"


@asynccontextmanager
async def serving(app: Starlette | FastAPI, port: int, **options: object) -> AsyncIterator[None]:
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **options)  # type: ignore[arg-type]
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.05)
    try:
        yield
    finally:
        server.should_exit = True
        await task


@asynccontextmanager
async def webhook_receiver(directory: Path) -> AsyncIterator[tuple[Receiver, Path]]:
    """A receiver answering 204 on ``/hook`` and a redirect to a metadata address on
    ``/redirect``; yields it and the certificate to trust."""
    cert, key = self_signed_certificate(directory)
    receiver = Receiver(free_port())

    async def hook(request: Request) -> Response:
        receiver.requests.append(
            Received(request.url.path, dict(request.headers), await request.body())
        )
        if request.url.path == "/redirect":
            return Response(status_code=302, headers={"Location": "https://169.254.169.254/"})
        return Response(status_code=204)

    app = Starlette(
        routes=[Route("/hook", hook, methods=["POST"]), Route("/redirect", hook, methods=["POST"])]
    )
    async with serving(app, receiver.port, ssl_certfile=str(cert), ssl_keyfile=str(key)):
        yield receiver, cert
