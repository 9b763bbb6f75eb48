"""The workers' /metrics and /healthz endpoint."""

from __future__ import annotations

import httpx

from common.ops_server import OpsServer


async def test_metrics_and_health_are_served() -> None:
    healthy = True
    server = OpsServer("127.0.0.1", 0, healthy=lambda: healthy)
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client:
            metrics = await client.get("/metrics")
            assert metrics.status_code == 200
            assert "python_info" in metrics.text
            assert (await client.get("/healthz")).json() == {"status": "ok"}
            healthy = False
            assert (await client.get("/healthz")).status_code == 503
            assert (await client.get("/nope")).status_code == 404
    finally:
        await server.close()
