"""ESI over HTTP: every request through the governor, transient failures retried under the
fetcher's retry policy, responses classified, caching headers parsed.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

import httpx
from pydantic import ValidationError

from services.fetcher import metrics
from services.fetcher.governor import Governor, Priority
from services.fetcher.retry import RetryPolicy
from services.fetcher.settings import FetcherSettings

log = logging.getLogger(__name__)

T = TypeVar("T")

TRANSIENT_STATUSES = frozenset({420, 429, 500, 502, 503, 504, 520})
GONE_STATUSES = frozenset({204, 403, 404})


class EsiError(Exception):
    """ESI did not give a usable answer."""


class TransientEsiError(EsiError):
    """Still failing (5xx, timeouts, 420/429, malformed bodies) after every attempt."""


class UnexpectedEsiStatusError(EsiError):
    """A status this request has no meaning for (e.g. 400)."""


@dataclass(frozen=True)
class EsiResponse:
    status: int
    body: bytes
    headers: httpx.Headers
    request_id: str | None

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def gone(self) -> bool:
        return self.status in GONE_STATUSES

    @property
    def etag(self) -> str | None:
        value: str | None = self.headers.get("etag")
        return value

    @property
    def pages(self) -> int:
        try:
            return max(1, int(self.headers.get("x-pages", "1")))
        except ValueError:
            return 1

    @property
    def last_modified(self) -> datetime | None:
        return http_date(self.headers.get("last-modified"))

    @property
    def expires(self) -> datetime | None:
        return http_date(self.headers.get("expires"))

    def fresh_for(self, now: datetime) -> float | None:
        """Seconds until the cached answer expires: ``max-age - Age`` first, then ``Expires``."""
        match = re.search(r"max-age=(\d+)", self.headers.get("cache-control", ""))
        if match:
            age = self.headers.get("age", "0")
            return max(0.0, float(match.group(1)) - (float(age) if age.isdigit() else 0.0))
        expires = self.expires
        if expires is not None:
            return max(0.0, (expires - now).total_seconds())
        return None


def http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class _TransientAnswerError(Exception):
    """One attempt's transient failure: retried under the policy."""


class EsiClient:
    def __init__(
        self,
        http: httpx.AsyncClient,
        governor: Governor,
        settings: FetcherSettings,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._http = http
        self._governor = governor
        self._settings = settings
        self._retry = retry or RetryPolicy(
            settings.max_attempts, settings.backoff_base_seconds, settings.backoff_max_seconds
        )

    async def get(
        self,
        route: str,
        path: str,
        *,
        priority: Priority,
        page: int | None = None,
        etag: str | None = None,
    ) -> EsiResponse:
        """One request, retried while the failure is transient."""
        params = {"page": str(page)} if page is not None else None
        headers = {"If-None-Match": etag} if etag else None
        try:
            async for attempt in self._retry.retrying(on=_TransientAnswerError):
                with attempt:
                    return await self._attempt(route, path, priority, params, headers, page)
        except _TransientAnswerError as error:
            raise TransientEsiError(
                f"GET {path} page={page}: {error} after {self._retry.attempts} attempts"
            ) from None
        raise AssertionError("unreachable: the policy returns or raises")

    async def _attempt(
        self,
        route: str,
        path: str,
        priority: Priority,
        params: dict[str, str] | None,
        headers: dict[str, str] | None,
        page: int | None,
    ) -> EsiResponse:
        async with self._governor.slot(priority):
            try:
                response = await self._http.get(path, params=params, headers=headers)
            except (httpx.TimeoutException, httpx.TransportError) as error:
                metrics.ESI_REQUESTS.labels(route, "transport_error").inc()
                raise _TransientAnswerError(f"{type(error).__name__}: {error}") from error
            self._governor.observe(response.status_code, response.headers)
            metrics.ESI_REQUESTS.labels(route, str(response.status_code)).inc()
            result = EsiResponse(
                response.status_code,
                response.content,
                response.headers,
                response.headers.get("x-esi-request-id"),
            )
            if result.status in TRANSIENT_STATUSES:
                log.info(
                    "transient ESI answer",
                    extra={"path": path, "page": page, "status": result.status,
                           "esi_request_id": result.request_id},
                )  # fmt: skip
                raise _TransientAnswerError(f"HTTP {result.status}")
            if result.not_modified:
                metrics.ESI_NOT_MODIFIED.inc()
            return result

    async def get_json(
        self,
        route: str,
        path: str,
        parse: Callable[[bytes], T],
        *,
        priority: Priority,
        page: int | None = None,
        etag: str | None = None,
    ) -> tuple[EsiResponse, T | None]:
        """A request whose 200 body must parse; a malformed body counts as transient."""
        try:
            async for attempt in self._retry.retrying(on=_TransientAnswerError):
                with attempt:
                    response = await self.get(route, path, priority=priority, page=page, etag=etag)
                    if response.status != 200:
                        return response, None
                    try:
                        return response, parse(response.body)
                    except ValidationError as error:
                        metrics.ESI_REQUESTS.labels(route, "malformed").inc()
                        log.warning(
                            "malformed ESI body",
                            extra={"path": path, "page": page,
                                   "esi_request_id": response.request_id},
                        )  # fmt: skip
                        raise _TransientAnswerError(
                            f"malformed body ({error.error_count()} error(s)): "
                            f"{error.errors()[0]['msg']}"
                        ) from error
        except _TransientAnswerError as error:
            raise TransientEsiError(f"GET {path} page={page}: {error}") from None
        raise AssertionError("unreachable: the policy returns or raises")


def build_http_client(
    settings: FetcherSettings, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=settings.esi_base_url,
        headers={
            "User-Agent": settings.user_agent,
            "X-Compatibility-Date": settings.compatibility_date,
            "Accept": "application/json",
        },
        timeout=httpx.Timeout(settings.request_timeout_seconds),
        limits=httpx.Limits(max_connections=settings.max_in_flight * 2),
        transport=transport,
        follow_redirects=False,
    )
