"""The catch-all: an unexpected exception is a generic 500 that shows nothing of it."""

from __future__ import annotations

import httpx
from starlette.types import Receive, Scope, Send

from services.api.errors import CatchAllMiddleware


async def test_an_unexpected_exception_becomes_a_generic_500() -> None:
    async def broken(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("secret internals: password=hunter2")

    transport = httpx.ASGITransport(app=CatchAllMiddleware(broken))
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        response = await client.get("/anything")
    assert response.status_code == 500
    assert response.json() == {
        "error": {"code": "internal_error", "message": "internal server error", "details": []}
    }
    assert "hunter2" not in response.text
