"""The ESI simulator in-process, reached through httpx's ASGI transport."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import orjson
from fastapi import FastAPI

from services.esi_sim.app import create_app
from services.esi_sim.faults import FaultConfig
from services.esi_sim.handler import EsiHandler
from services.esi_sim.world import SimWorld

SIM_BASE_URL = "http://esi.test"


@dataclass
class Sim:
    world: SimWorld
    app: FastAPI

    @classmethod
    def build(
        cls, regions: dict[int, int], *, app_options: dict[str, Any] | None = None, **options: Any
    ) -> Sim:
        world = SimWorld(seed=7, regions=regions, **options)
        return cls(world, create_app(world, **(app_options or {})))

    @property
    def transport(self) -> httpx.ASGITransport:
        return httpx.ASGITransport(app=self.app)

    async def admin(self, method: str, path: str, body: Any = None) -> Any:
        async with httpx.AsyncClient(transport=self.transport, base_url=SIM_BASE_URL) as client:
            response = await client.request(method, f"/_sim{path}", json=body)
            response.raise_for_status()
            return response.json()

    async def stats(self) -> dict[str, Any]:
        """What ``GET /_sim/stats`` answers, read in-process: a test polling it must not queue
        its own requests behind the ones it is counting (a whole-suite run once stalled in
        such a call, past every deadline)."""
        handler: EsiHandler = self.app.state.handler
        result: dict[str, Any] = orjson.loads(orjson.dumps(handler.stats_snapshot()))
        return result

    async def reset_stats(self) -> None:
        await self.admin("POST", "/reset-stats")

    async def faults(self, config: FaultConfig) -> None:
        await self.admin("POST", "/faults", config.model_dump(mode="json", exclude_none=True))

    def listed(self) -> dict[int, dict[int, set[int]]]:
        """region -> contract -> record ids of its items, as the simulator lists them now."""
        truth = self.world.truth()
        return {
            int(region): {int(cid): set(c["items"]) for cid, c in contracts.items()}
            for region, contracts in truth["regions"].items()
        }
