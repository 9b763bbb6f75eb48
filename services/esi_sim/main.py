"""Serve the ESI simulator over HTTP: ``python -m services.esi_sim.main --port 8090``."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

import uvicorn

from services.esi_sim import catalog
from services.esi_sim.app import create_app
from services.esi_sim.world import SimWorld

logger = logging.getLogger(__name__)


def parse_regions(text: str) -> dict[int, int]:
    """``"10000002:3000,10000043:1000"`` → ``{10000002: 3000, 10000043: 1000}``."""
    regions: dict[int, int] = {}
    for part in text.replace(" ", "").split(","):
        if not part:
            continue
        region, sep, count = part.partition(":")
        if not sep:
            raise ValueError(f"expected REGION:COUNT, got {part!r}")
        try:
            region_id, contracts = int(region), int(count)
        except ValueError:
            raise ValueError(f"expected integers in REGION:COUNT, got {part!r}") from None
        if region_id <= 0 or contracts < 0:
            raise ValueError(f"region id must be positive and count non-negative: {part!r}")
        regions[region_id] = contracts
    return regions


def run(
    host: str,
    port: int,
    *,
    seed: int,
    regions: dict[int, int],
    churn_per_generation: int,
    cache_seconds: int,
    auto_advance: bool,
    big_contracts: int,
) -> None:
    """Build the world and serve it until interrupted."""
    world = SimWorld(
        seed=seed,
        regions=regions,
        churn_per_generation=churn_per_generation,
        big_contracts=big_contracts,
        cache_seconds=cache_seconds,
    )
    app = create_app(world, auto_advance=auto_advance)
    logger.info("ESI simulator on http://%s:%d (seed %d, regions %s)", host, port, seed, regions)
    uvicorn.run(app, host=host, port=port, log_level="warning", server_header=False)


def main(argv: Sequence[str] | None = None) -> None:
    default_regions = ",".join(f"{r}:{n}" for r, n in catalog.DEFAULT_REGIONS.items())
    parser = argparse.ArgumentParser(description="Serve a simulated ESI (public contracts).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--regions", type=parse_regions, default=default_regions)
    parser.add_argument("--churn", type=int, default=50, help="Contracts replaced per generation.")
    parser.add_argument("--cache-seconds", type=int, default=1800)
    parser.add_argument("--big-contracts", type=int, default=0)
    parser.add_argument("--auto-advance", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    run(
        args.host,
        args.port,
        seed=args.seed,
        regions=args.regions,
        churn_per_generation=args.churn,
        cache_seconds=args.cache_seconds,
        auto_advance=args.auto_advance,
        big_contracts=args.big_contracts,
    )


if __name__ == "__main__":
    main()
