"""Test-only administration routes under ``/_sim``: advance, truth, stats, faults."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter
from starlette.responses import Response

from services.esi_sim.faults import FaultConfig
from services.esi_sim.handler import EsiHandler
from services.esi_sim.responses import json_response

PREFIX = "/_sim"


def admin_router(handler: EsiHandler) -> APIRouter:
    """The ``/_sim`` routes of one simulator instance (never counted, never error limited)."""
    router = APIRouter(prefix=PREFIX)

    @router.post("/advance")
    async def advance() -> dict[str, int]:
        """Start the next generation now."""
        return {"generation": handler.advance()}

    @router.get("/truth")
    async def truth() -> Response:
        """Everything currently listed (see ``SimWorld.truth``)."""
        return json_response(orjson.dumps(handler.world.truth()))

    @router.get("/truth/rows")
    async def truth_rows() -> Response:
        """Everything listed now, every field as ESI serves it: ``{"generation", "regions":
        {region: [contract body + {"items": [...], "bids": [...]}]}}``."""
        world = handler.world
        regions = {
            str(region_id): [
                {
                    **contract,
                    "items": world.items(contract["contract_id"]) or [],
                    "bids": world.bids(contract["contract_id"]) or [],
                }
                for contract in world.contracts(region_id)
            ]
            for region_id in world.region_ids()
        }
        return json_response(orjson.dumps({"generation": world.generation, "regions": regions}))

    @router.get("/stats")
    async def stats() -> dict[str, Any]:
        """Request counts by route kind and status, 304s, error-limit state, faults fired."""
        return handler.stats_snapshot()

    @router.post("/reset-stats")
    async def reset_stats() -> dict[str, Any]:
        handler.stats.reset()
        return handler.stats_snapshot()

    @router.post("/reset-error-limit")
    async def reset_error_limit() -> dict[str, Any]:
        handler.limiter.reset()
        return handler.limiter.state()

    @router.get("/faults")
    async def get_faults() -> dict[str, Any]:
        return handler.faults.config.model_dump()

    @router.post("/faults")
    async def set_faults(config: FaultConfig) -> dict[str, Any]:
        """Replace the whole fault configuration."""
        handler.faults.configure(config)
        return config.model_dump()

    @router.delete("/faults")
    async def clear_faults() -> dict[str, Any]:
        handler.faults.configure(FaultConfig())
        return handler.faults.config.model_dump()

    return router
