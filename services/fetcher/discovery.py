"""Discovery: a complete, consistent sweep of one region's contract list.

Every page is requested with the ETag it had (``If-None-Match``); a 304 reuses the page kept in
Redis, and a 304 whose kept page is gone is asked again without ``If-None-Match``. All pages
must share one ``Last-Modified`` generation and one ``X-Pages``, or the sweep is not trusted.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from common.esi_models import EsiContract, parse_contract_page
from common.messages import EsiSource
from services.fetcher import metrics
from services.fetcher.esi_client import EsiClient, EsiResponse, UnexpectedEsiStatusError, http_date
from services.fetcher.governor import Priority
from services.fetcher.state import CachedPage, FetcherState

log = logging.getLogger(__name__)


class InconsistentSweepError(Exception):
    """The pages of one sweep came from different cache generations or page counts."""


@dataclass(frozen=True)
class ListedPage:
    source: EsiSource
    pages: int
    contracts: list[EsiContract]
    #: Contracts ESI lists on this page whose entries were invalid (not published).
    set_aside_ids: list[int]
    #: Invalid entries on this page without a readable contract id.
    unidentified: int


@dataclass(frozen=True)
class Sweep:
    region_id: int
    generation: datetime
    pages: list[ListedPage]
    fresh_for: float | None
    swept_at: datetime

    def contract_ids(self) -> list[int]:
        """Every contract ESI lists, including those whose entries were set aside as invalid."""
        return sorted(
            {c.contract_id for page in self.pages for c in page.contracts}
            | {contract_id for page in self.pages for contract_id in page.set_aside_ids}
        )

    def valid_contract_ids(self) -> list[int]:
        return sorted({c.contract_id for page in self.pages for c in page.contracts})

    @property
    def unidentified(self) -> int:
        """Invalid entries whose contract is unknown: while there are any, the sweep cannot
        decide which contracts are gone."""
        return sum(page.unidentified for page in self.pages)


async def fetch_list_page(
    esi: EsiClient, state: FetcherState, region_id: int, page: int
) -> tuple[ListedPage, EsiResponse]:
    path = f"/contracts/public/{region_id}"
    cached = await state.cached_page(region_id, page)
    response, contracts = await esi.get_json(
        "contracts", path, parse_contract_page, priority=Priority.DISCOVERY, page=page,
        etag=cached.etag if cached else None,
    )  # fmt: skip
    if response.not_modified and cached is None:
        response, contracts = await esi.get_json(
            "contracts", path, parse_contract_page, priority=Priority.DISCOVERY, page=page
        )
    if response.not_modified and cached is not None:
        last_modified = response.last_modified or cached.last_modified
        pages = int(response.headers["x-pages"]) if "x-pages" in response.headers else cached.pages
        listed = parse_contract_page(cached.body)
        etag = response.etag or cached.etag
    elif response.status == 200 and contracts is not None:
        last_modified = (
            response.last_modified or http_date(response.headers.get("date")) or datetime.now(UTC)
        )
        pages, listed, etag = response.pages, contracts, response.etag or ""
        if etag:
            await state.store_page(
                region_id, page, CachedPage(etag, last_modified, pages, response.body)
            )
    elif response.status == 404 and page > 1:
        raise InconsistentSweepError(f"page {page} vanished while sweeping (X-Pages shrank)")
    else:
        raise UnexpectedEsiStatusError(f"GET {path} page={page}: HTTP {response.status}")
    if listed.rejected:
        metrics.INVALID_CONTRACTS.inc(len(listed.rejected))
        log.warning(
            "invalid contract entries skipped",
            extra={"region": region_id, "page": page, "esi_request_id": response.request_id,
                   "entries": listed.rejected[:5], "count": len(listed.rejected)},
        )  # fmt: skip
    source = EsiSource(
        page=page, last_modified=last_modified, expires=response.expires, etag=etag or None
    )
    return (
        ListedPage(source, pages, listed.contracts, listed.rejected_ids, listed.unidentified),
        response,
    )


async def sweep_region(esi: EsiClient, state: FetcherState, region_id: int) -> Sweep:
    first, first_response = await fetch_list_page(esi, state, region_id, 1)
    others = await asyncio.gather(
        *(fetch_list_page(esi, state, region_id, page) for page in range(2, first.pages + 1))
    )
    pages = [first, *(page for page, _ in others)]
    generations = {page.source.last_modified for page in pages}
    page_counts = {page.pages for page in pages}
    if len(generations) > 1 or len(page_counts) > 1:
        raise InconsistentSweepError(
            f"region {region_id}: {len(generations)} Last-Modified generations, "
            f"X-Pages values {sorted(page_counts)}"
        )
    await state.forget_pages_after(region_id, first.pages)
    now = datetime.now(UTC)
    return Sweep(
        region_id=region_id,
        generation=first.source.last_modified,
        pages=pages,
        fresh_for=first_response.fresh_for(now),
        swept_at=now,
    )
