"""A client of the live alert feed (``GET /v1/alerts/stream``, server-sent events) that keeps
every event it reads, with the moment it read it."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from tests.support.accounts import bearer


@dataclass(frozen=True)
class FeedEvent:
    """One event of the feed: an alert (``data``, ``event_id``) or a comment line (heartbeat,
    ``connected``); ``received_at`` is the wall clock (``time.time()``) when it was read."""

    received_at: float
    event_id: str | None = None
    data: dict[str, Any] | None = None
    comment: str | None = None


@dataclass
class LiveFeed:
    events: list[FeedEvent] = field(default_factory=list)

    def alerts(self) -> list[FeedEvent]:
        return [event for event in self.events if event.data is not None]

    def comments(self, text: str) -> list[FeedEvent]:
        return [event for event in self.events if event.comment == text]


async def read_feed(
    client: httpx.AsyncClient, key: str, feed: LiveFeed, last_event_id: str | None = None
) -> None:
    """Read the feed into ``feed`` until cancelled."""
    headers = bearer(key) | ({"Last-Event-ID": last_event_id} if last_event_id else {})
    async with client.stream("GET", "/v1/alerts/stream", headers=headers) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        event_id: str | None = None
        data: dict[str, Any] | None = None
        async for line in response.aiter_lines():
            if line.startswith(":"):
                feed.events.append(FeedEvent(time.time(), comment=line[1:].strip()))
            elif line.startswith("id: "):
                event_id = line[4:]
            elif line.startswith("data: "):
                data = orjson.loads(line[6:])
            elif not line and data is not None:
                feed.events.append(FeedEvent(time.time(), event_id=event_id, data=data))
                event_id, data = None, None


@contextlib.asynccontextmanager
async def listening(
    client: httpx.AsyncClient, key: str, last_event_id: str | None = None, *, within: float = 30
) -> AsyncIterator[LiveFeed]:
    """The feed read in the background, from its first line on (``: connected``)."""
    feed = LiveFeed()
    reading = asyncio.create_task(read_feed(client, key, feed, last_event_id))
    try:
        async with asyncio.timeout(within):
            while not feed.events:
                if reading.done():
                    reading.result()
                    raise AssertionError("the live feed ended before its first line")
                await asyncio.sleep(0.02)
        yield feed
    finally:
        reading.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reading
