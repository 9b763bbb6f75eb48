"""The request pipeline of the simulated ESI routes: error limit, faults, caching, paging."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from services.esi_sim import catalog
from services.esi_sim.errorlimit import ERROR_LIMIT_MESSAGE, ErrorLimiter
from services.esi_sim.faults import RouteKind
from services.esi_sim.httpcache import (
    PageCache,
    Paged,
    cache_headers,
    daily_window,
    etag_matches,
    make_page,
)
from services.esi_sim.injector import FaultInjector
from services.esi_sim.responses import (
    empty_response,
    error_response,
    html_error,
    json_response,
    truncated,
)
from services.esi_sim.stats import OTHER, SimStats
from services.esi_sim.world import SimWorld

_ID = re.compile(r"[0-9]{1,19}")
_MAX_PAGE = 2**31 - 1
PAGE_MISSING = "Requested page does not exist!"
REGION_MISSING = "Region not found"
CONTRACT_MISSING = "Contract not found!"
CONTRACT_FORBIDDEN = "Contract not public"


def utc_now() -> datetime:
    return datetime.now(UTC)


def _parse_id(text: str | None) -> int | None:
    if text is None or not _ID.fullmatch(text):
        return None
    value = int(text)
    return value if value > 0 else None


def _parse_page(request: Request) -> int | None:
    values = request.query_params.getlist("page")
    if not values:
        return 1
    page = _parse_id(values[-1].strip())
    return page if page is not None and page <= _MAX_PAGE else None


class EsiHandler:
    """Answers the simulated ESI routes from a :class:`SimWorld`.

    ``clock`` (monotonic seconds) drives the error-limit window, ``wall`` the ``max-age``
    countdown and generation starts of HTTP-triggered advances.
    """

    def __init__(
        self,
        world: SimWorld,
        *,
        auto_advance: bool = False,
        page_size: int = 1000,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = utc_now,
        error_limit: int = 100,
        error_window: float = 60.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.world = world
        self.auto_advance = auto_advance
        self.limiter = ErrorLimiter(error_limit, error_window, clock)
        self.faults = FaultInjector(world.seed)
        self.stats = SimStats()
        self.cache = PageCache(page_size)
        self._wall = wall
        self._sleep = sleep

    # -- administration ---------------------------------------------------------------------

    def advance(self) -> int:
        """Start the next generation now (at least one second after the current one)."""
        return self.world.advance(now=self._wall())

    def stats_snapshot(self) -> dict[str, Any]:
        snapshot = self.stats.snapshot()
        snapshot["generation"] = self.world.generation
        snapshot["error_limit"] = self.limiter.state()
        snapshot["faults_fired"] = self.faults.fired()
        return snapshot

    # -- entry points -----------------------------------------------------------------------

    async def serve(self, request: Request, kind: RouteKind, ident: str | None) -> Response:
        """Answer one ESI request of route ``kind`` (``ident``: region or contract id)."""
        response, counted = await self._dispatch(request, kind, ident)
        return self._finish(kind, response, counted)

    def unrouted(self, status: int) -> Response:
        """A path or method ESI does not have: an error like any other."""
        if self.limiter.limited():
            return self._finish(OTHER, error_response(420, ERROR_LIMIT_MESSAGE), counted=False)
        message = "Not found" if status == 404 else "Method not allowed"
        return self._finish(OTHER, error_response(status, message), counted=True)

    # -- pipeline ---------------------------------------------------------------------------

    def _finish(self, kind: str, response: Response, counted: bool) -> Response:
        if counted and response.status_code >= 400:
            self.limiter.record_error()
        response.headers.update(self.limiter.headers())
        if response.status_code == 420:  # an injected storm looks like an exhausted limit
            response.headers["X-ESI-Error-Limit-Remain"] = "0"
        response.headers["X-ESI-Request-ID"] = str(uuid.uuid4())
        self.stats.record(kind, response.status_code)
        return response

    async def _dispatch(
        self, request: Request, kind: RouteKind, ident: str | None
    ) -> tuple[Response, bool]:
        """The response, and whether an error status counts against the error limit."""
        self._maybe_auto_advance()
        if self.limiter.limited() or self.faults.error_420(kind):
            return error_response(420, ERROR_LIMIT_MESSAGE), False
        retry_after = self.faults.rate_429(kind)
        if retry_after is not None:
            headers = {"Retry-After": str(retry_after)}
            return error_response(429, "Too many requests", headers), True
        delay = self.faults.timeout(kind)
        if delay is not None:
            await self._sleep(delay)
        status = self.faults.html_5xx(kind)
        if status is not None:
            return html_error(status), True
        if kind == "regions":
            return self._regions(request), True
        page = _parse_page(request)
        if page is None:
            return error_response(400, "Invalid page: expected an integer of at least 1"), True
        if kind == "contracts":
            return self._listing(request, ident, page), True
        return self._contents(request, kind, ident, page), True

    def _maybe_auto_advance(self) -> None:
        if not self.auto_advance:
            return
        now = self._wall()
        expires = self.world.last_modified() + timedelta(seconds=self.world.cache_seconds)
        if now >= expires:
            self.world.advance(now=now)

    def _regions(self, request: Request) -> Response:
        now = self._wall()
        last_modified, expires = daily_window(now)
        page = make_page(self.world.universe_region_ids())
        headers = cache_headers(last_modified, expires, now, page.etag)
        if etag_matches(request.headers.get("if-none-match"), page.etag):
            return empty_response(304, headers)
        body = truncated(page.body) if self.faults.malformed_json("regions") else page.body
        return json_response(body, 200, headers)

    def _listing(self, request: Request, ident: str | None, page: int) -> Response:
        region_id = _parse_id(ident)
        if region_id is None:
            return error_response(400, f"Invalid region_id: {ident!r}")
        if not self.world.is_region(region_id):
            return error_response(404, REGION_MISSING)
        if self.faults.page_shift("contracts", region_id, page):
            self.advance()
        paged = self.cache.get(
            ("contracts", region_id),
            self.world.generation,
            lambda: self.world.contracts(region_id),
        )
        last_modified = self.world.last_modified(region_id)
        expires = last_modified + timedelta(seconds=self.world.cache_seconds)
        if paged is None:  # cannot happen: a region's listing always exists
            return error_response(404, REGION_MISSING)
        return self._page(
            request, "contracts", paged, page, last_modified=last_modified, expires=expires
        )

    def _contents(
        self, request: Request, kind: RouteKind, ident: str | None, page: int
    ) -> Response:
        contract_id = _parse_id(ident)
        if contract_id is None:
            return error_response(400, f"Invalid contract_id: {ident!r}")
        seconds = catalog.ITEMS_CACHE_SECONDS if kind == "items" else catalog.BIDS_CACHE_SECONDS
        last_modified = self.world.last_modified()
        expires = last_modified + timedelta(seconds=seconds)
        gone = self.faults.items_gone(kind, contract_id)
        if gone == 403:
            return error_response(403, CONTRACT_FORBIDDEN)
        if gone == 404:
            return error_response(404, CONTRACT_MISSING)
        paged = None
        if gone is None:
            load = self.world.items if kind == "items" else self.world.bids
            paged = self.cache.get(
                (kind, contract_id), self.world.generation, lambda: load(contract_id)
            )
        if paged is None:  # expired or accepted: ESI's documented 204
            return empty_response(204, cache_headers(last_modified, expires, self._wall(), None))
        return self._page(request, kind, paged, page, last_modified=last_modified, expires=expires)

    def _page(
        self,
        request: Request,
        kind: RouteKind,
        paged: Paged,
        number: int,
        *,
        last_modified: datetime,
        expires: datetime,
    ) -> Response:
        page = paged.page(number)
        if page is None:
            return error_response(404, PAGE_MISSING)
        headers = cache_headers(last_modified, expires, self._wall(), page.etag)
        if etag_matches(request.headers.get("if-none-match"), page.etag):
            return empty_response(304, headers)
        body = truncated(page.body) if self.faults.malformed_json(kind) else page.body
        headers["X-Pages"] = str(paged.pages)
        return json_response(body, 200, headers)
