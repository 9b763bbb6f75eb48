"""HTTP caching pieces of the simulated ESI: dates, ETags, serialized pages and their cache."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import orjson

DAILY_EXPIRY = (11, 5)
"""``/universe/regions`` "expires daily at 11:05" (UTC)."""


def imf_date(moment: datetime) -> str:
    """RFC 7231 IMF-fixdate: ``Sun, 06 Nov 1994 08:49:37 GMT``."""
    return format_datetime(moment.astimezone(UTC), usegmt=True)


def strong_etag(body: bytes) -> str:
    """A quoted strong ETag that is a hash of the body."""
    return '"' + hashlib.sha1(body, usedforsecurity=False).hexdigest() + '"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an ``If-None-Match`` header matches ``etag`` (weak comparison, ``*`` matches)."""
    if not if_none_match:
        return False
    bare = etag.removeprefix("W/")
    for candidate in if_none_match.split(","):
        value = candidate.strip()
        if value == "*" or value.removeprefix("W/") == bare:
            return True
    return False


def cache_headers(
    last_modified: datetime, expires: datetime, now: datetime, etag: str | None
) -> dict[str, str]:
    """``Cache-Control``/``Expires``/``Last-Modified`` (+ ``ETag``) as ESI sends them."""
    left = max(0, int((expires - now).total_seconds()))
    headers = {
        "Cache-Control": f"public, max-age={left}",
        "Expires": imf_date(expires),
        "Last-Modified": imf_date(last_modified),
    }
    if etag is not None:
        headers["ETag"] = etag
    return headers


def daily_window(now: datetime) -> tuple[datetime, datetime]:
    """The last and next 11:05 UTC around ``now``: ``(Last-Modified, Expires)``."""
    hour, minute = DAILY_EXPIRY
    today = now.astimezone(UTC).replace(hour=hour, minute=minute, second=0, microsecond=0)
    if today > now:
        return today - timedelta(days=1), today
    return today, today + timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Page:
    """One serialized page and its ETag."""

    body: bytes
    etag: str


def make_page(rows: Sequence[object]) -> Page:
    body = orjson.dumps(list(rows))
    return Page(body, strong_etag(body))


class Paged:
    """Rows split into pages of ``page_size``; each page is serialized once, on first use."""

    def __init__(self, rows: Sequence[object], page_size: int) -> None:
        self._rows = rows
        self._size = page_size
        self.pages = max(1, -(-len(rows) // page_size))
        self._serialized: dict[int, Page] = {}

    def page(self, number: int) -> Page | None:
        """Page ``number`` (1-based), or ``None`` past the last page."""
        if not 1 <= number <= self.pages:
            return None
        page = self._serialized.get(number)
        if page is None:
            start = (number - 1) * self._size
            page = make_page(self._rows[start : start + self._size])
            self._serialized[number] = page
        return page


class PageCache:
    """Paged responses of the current world generation, keyed by ``(route kind, id)``.

    Everything is dropped when the generation changes, which keeps the cache bounded by what
    one generation lists.
    """

    def __init__(self, page_size: int, max_entries: int = 100_000) -> None:
        self.page_size = page_size
        self._max_entries = max_entries
        self._generation = -1
        self._entries: dict[tuple[str, int], Paged] = {}

    def get(
        self,
        key: tuple[str, int],
        generation: int,
        load: Callable[[], Sequence[object] | None],
    ) -> Paged | None:
        """The cached pages of ``key``, loading its rows on a miss (``None``: nothing there)."""
        if generation != self._generation:
            self._entries.clear()
            self._generation = generation
        paged = self._entries.get(key)
        if paged is not None:
            return paged
        rows = load()
        if rows is None:
            return None
        if len(self._entries) >= self._max_entries:
            self._entries.clear()
        paged = Paged(rows, self.page_size)
        self._entries[key] = paged
        return paged
