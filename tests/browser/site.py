"""The site under test: a database of loaded contracts and the API serving it in its own
process (``hangar-bay api``), as a user's stack runs it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from services.stack.servers import free_port
from tests.integration.test_api_support import TEST_SECRET, contract, item
from tests.support.places import AMARR_VIII, JITA_44

NOW = datetime.now(UTC).replace(microsecond=0)
THE_FORGE = 10000002
DOMAIN = 10000043
HOSTILE_TITLES = (
    "<script>alert('title')</script>",
    '"><img src=x onerror=alert(1)>',
    "\u202eevil\u202c RTL \u05e9\u05dc\u05d5\u05dd",
    "Rifter \U0001f680\U0001f525 fitted",
)
ARTEFACTS_DIR = (
    Path(
        os.environ.get(
            "HANGAR_TEST_ARTEFACTS", Path(__file__).resolve().parents[2] / "test-artefacts"
        )
    )
    / "browser"
)


def _when(minutes: int) -> datetime:
    return NOW - timedelta(minutes=minutes)


def site_rows() -> dict[str, list[dict[str, Any]]]:
    """60 item exchanges, auctions and couriers in two regions, from Jita 4-4 or (every fifth)
    Amarr VIII; four with hostile titles; a Raven, a blueprint copy, an asked-for item and
    bids (an auction), a gone contract. Places are named by ``tests.support.places``."""
    contracts = []
    for n in range(1, 61):
        kind = ("item_exchange", "auction", "courier")[n % 3]
        issued = _when(n * 7)
        contracts.append(
            contract(
                n,
                type=kind,
                region_id=THE_FORGE if n % 4 else DOMAIN,
                price=Decimal(n * 1_250_000) if kind != "courier" else Decimal(0),
                reward=Decimal(n * 90_000) if kind == "courier" else Decimal(0),
                collateral=Decimal(n * 3_000_000) if kind == "courier" else Decimal(0),
                buyout=Decimal(n * 4_000_000) if kind == "auction" else None,
                volume=float(n * 125),
                start_location_id=AMARR_VIII if n % 5 == 0 else JITA_44,
                end_location_id=AMARR_VIII if kind == "courier" else JITA_44,
                title=f"Lot {n:02d}",
                date_issued=issued,
                date_expired=issued + timedelta(days=14),
                first_seen_at=issued + timedelta(minutes=2),
                last_seen_at=_when(5),
                source_last_modified=issued,
            )
        )
    for n, title in enumerate(HOSTILE_TITLES, start=61):
        contracts.append(
            contract(
                n, title=title, date_issued=_when(1), date_expired=_when(1) + timedelta(days=3)
            )
        )
    contracts.append(contract(70, title="Gone Raven", status="gone", date_issued=_when(900)))
    items = [
        item(1, 1, 638, quantity=1),
        item(
            2, 1, 1001, is_blueprint_copy=True, runs=10, material_efficiency=9, time_efficiency=18
        ),
        item(3, 1, 34, quantity=25000, is_included=False),
    ]
    bids = [
        {"bid_id": 1, "contract_id": 1, "amount": Decimal("3000000.00"), "date_bid": _when(30)},
        {"bid_id": 2, "contract_id": 1, "amount": Decimal("3500000.00"), "date_bid": _when(20)},
    ]
    sweeps = [
        {
            "region_id": region_id,
            "generation": _when(minutes + 2),
            "swept_at": _when(minutes),
            "contract_count": 40,
            "contract_ids": [],
        }
        for region_id, minutes in ((THE_FORGE, 4), (DOMAIN, 11))
    ]
    return {"contracts": contracts, "items": items, "bids": bids, "sweeps": sweeps}


@contextmanager
def serving(database_url: str) -> Iterator[str]:
    """``hangar-bay api`` on a free port over ``database_url``, until the block ends."""
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("HANGAR_")}
    env |= {
        "HANGAR_DATABASE_URL": database_url,
        "HANGAR_CURSOR_SECRET": TEST_SECRET,
        "HANGAR_RESPONSE_CACHE_S": "0",
        "HANGAR_LOG_JSON": "true",
    }
    ARTEFACTS_DIR.mkdir(parents=True, exist_ok=True)
    log_path = ARTEFACTS_DIR / f"api-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "api", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log_path.read_text()[-3000:]
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the API did not start within 60 s"
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    log_path.unlink()
