"""The repository's real ESI payloads (``tests/samples``) served by an httpx transport."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx

SAMPLES_DIR = Path(__file__).resolve().parent.parent / "samples"
EVEREF = "everef__ScrapePublicContractsTest__"


def sample_transport(region_id: int, pages: int, last_modified: str) -> httpx.MockTransport:
    """A region's first ``pages`` list pages, and the items and bids the samples hold (204
    for the others), with ESI's paging and caching headers."""
    files = [SAMPLES_DIR / f"{EVEREF}contracts-{region_id}-{n}.json" for n in range(1, pages + 1)]
    headers = {
        "Last-Modified": last_modified,
        "Expires": format_datetime(datetime.now(UTC) + timedelta(minutes=30), usegmt=True),
        "Content-Type": "application/json",
    }

    def handle(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params.get("page", "1"))
        if request.url.path == f"/contracts/public/{region_id}" and 1 <= page <= pages:
            return httpx.Response(
                200,
                content=files[page - 1].read_bytes(),
                headers={**headers, "X-Pages": str(pages), "ETag": f'"p{page}"'},
            )
        found = re.fullmatch(r"/contracts/public/(items|bids)/(\d+)", request.url.path)
        if found and page == 1:
            path = SAMPLES_DIR / f"{EVEREF}{found[1]}-{found[2]}.json"
            if path.exists():
                return httpx.Response(
                    200, content=path.read_bytes(), headers={**headers, "X-Pages": "1"}
                )
            return httpx.Response(204)
        return httpx.Response(404, json={"error": "not found"})

    return httpx.MockTransport(handle)
