"""The ESI governor: pauses on ESI's limit signals, and discovery goes before enrichment."""

from __future__ import annotations

import asyncio
import time

import httpx

from services.fetcher.esi_client import EsiResponse
from services.fetcher.governor import Governor, Priority
from tests.support.waiting import wait_until


def _paused_for(governor: Governor) -> float:
    return governor._paused_until - time.monotonic()


def test_429_pauses_for_retry_after() -> None:
    governor = Governor(4, error_limit_floor=10)
    governor.observe(429, {"retry-after": "7"})
    assert 6 < _paused_for(governor) <= 7


def test_420_pauses_until_the_error_window_resets() -> None:
    governor = Governor(4, error_limit_floor=10)
    governor.observe(420, {"x-esi-error-limit-remain": "0", "x-esi-error-limit-reset": "33"})
    assert 33 < _paused_for(governor) <= 34


def test_a_low_error_budget_pauses_before_the_limit() -> None:
    governor = Governor(4, error_limit_floor=10)
    governor.observe(200, {"x-esi-error-limit-remain": "50", "x-esi-error-limit-reset": "20"})
    assert _paused_for(governor) <= 0
    governor.observe(502, {"x-esi-error-limit-remain": "10", "x-esi-error-limit-reset": "20"})
    assert 20 < _paused_for(governor) <= 21


def test_an_exhausted_token_bucket_pauses() -> None:
    governor = Governor(4, error_limit_floor=10)
    governor.observe(200, {"x-ratelimit-remaining": "1", "retry-after": "4"})
    assert 3 < _paused_for(governor) <= 4


async def test_requests_wait_out_a_pause() -> None:
    governor = Governor(4, error_limit_floor=10)
    governor.pause(0.3, "test")
    started = time.monotonic()
    async with governor.slot(Priority.DISCOVERY):
        waited = time.monotonic() - started
    assert waited >= 0.29


async def test_a_request_waiting_out_a_pause_ends_when_cancelled_as_the_pause_changes() -> None:
    governor = Governor(4, error_limit_floor=10)
    governor.pause(60, "test")
    admitted = False

    async def request() -> None:
        nonlocal admitted
        async with governor.slot(Priority.DISCOVERY):
            admitted = True

    waiting = asyncio.create_task(request())
    await asyncio.sleep(0)  # now waiting out the pause
    governor.pause(120, "longer")  # wakes the waiters to wait out the longer pause
    waiting.cancel()  # before they ran: the cancellation must not be lost

    async def ended() -> bool:
        return waiting.done()

    await wait_until(ended, timeout=5, what="the cancelled request's end")
    assert waiting.cancelled()
    assert not admitted


async def test_discovery_is_admitted_before_waiting_enrichment() -> None:
    governor = Governor(1, error_limit_floor=10)
    order: list[str] = []
    release = asyncio.Event()
    held = asyncio.Event()

    async def hold() -> None:
        async with governor.slot(Priority.ENRICHMENT):
            held.set()
            await release.wait()

    async def request(name: str, priority: Priority) -> None:
        async with governor.slot(priority):
            order.append(name)

    holder = asyncio.create_task(hold())
    await held.wait()
    waiting = [
        asyncio.create_task(request("items-1", Priority.ENRICHMENT)),
        asyncio.create_task(request("items-2", Priority.ENRICHMENT)),
        asyncio.create_task(request("list", Priority.DISCOVERY)),
    ]

    async def all_queued() -> bool:
        return governor.waiting == 3

    await wait_until(all_queued, timeout=5, every=0)
    release.set()
    await asyncio.gather(holder, *waiting)
    assert order == ["list", "items-1", "items-2"]


def _response(headers: dict[str, str]) -> EsiResponse:
    return EsiResponse(200, b"[]", httpx.Headers(headers), None)


def test_freshness_prefers_max_age_minus_age() -> None:
    from datetime import UTC, datetime  # noqa: PLC0415

    now = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    response = _response(
        {
            "cache-control": "public, max-age=300",
            "age": "120",
            "expires": "Sun, 01 Nov 2026 13:00:00 GMT",
        }
    )
    assert response.fresh_for(now) == 180
    assert _response({"expires": "Sun, 01 Nov 2026 12:10:00 GMT"}).fresh_for(now) == 600
    assert _response({"expires": "garbage"}).fresh_for(now) is None
    assert _response({}).fresh_for(now) is None
