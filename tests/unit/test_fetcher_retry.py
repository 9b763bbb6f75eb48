"""The fetcher's retry policy on real behaviour: waits bounded and jittered, attempts
limited, only the named failures retried, and the ESI client held to it."""

from __future__ import annotations

import statistics

import httpx
import pytest

from services.fetcher.esi_client import EsiClient, TransientEsiError
from services.fetcher.governor import Governor, Priority
from services.fetcher.retry import RetryPolicy
from services.fetcher.settings import FetcherSettings


class RecordedSleeps(list[float]):
    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


def test_waits_are_jittered_within_a_doubling_ceiling_capped_at_the_limit() -> None:
    policy = RetryPolicy(attempts=10, base_seconds=0.5, max_seconds=4.0)
    for attempt in range(1, 9):
        ceiling = min(4.0, 0.5 * 2 ** (attempt - 1))
        assert policy.ceiling(attempt) == ceiling
        waits = [policy.delay(attempt) for _ in range(400)]
        assert all(0 <= w <= ceiling for w in waits)
        assert len(set(waits)) > 300  # jittered, not a fixed schedule
        # full jitter: uniform over [0, ceiling], so about half the ceiling on average
        assert 0.4 * ceiling < statistics.fmean(waits) < 0.6 * ceiling


async def test_attempts_are_limited_and_the_last_error_is_raised() -> None:
    sleeps = RecordedSleeps()
    policy = RetryPolicy(attempts=4, base_seconds=1.0, max_seconds=3.0, sleep=sleeps)
    calls: list[int] = []

    async def failing() -> None:
        async for attempt in policy.retrying(on=TimeoutError):
            with attempt:
                calls.append(len(calls) + 1)
                raise TimeoutError(f"attempt {len(calls)}")

    with pytest.raises(TimeoutError, match="attempt 4"):
        await failing()
    assert calls == [1, 2, 3, 4]
    assert len(sleeps) == 3
    assert all(0 <= s <= policy.ceiling(n) for n, s in enumerate(sleeps, start=1))


async def test_other_failures_are_not_retried() -> None:
    sleeps = RecordedSleeps()
    policy = RetryPolicy(attempts=4, base_seconds=1.0, max_seconds=3.0, sleep=sleeps)
    calls: list[int] = []

    async def failing() -> None:
        async for attempt in policy.retrying(on=TimeoutError):
            with attempt:
                calls.append(1)
                raise ValueError("not transient")

    with pytest.raises(ValueError, match="not transient"):
        await failing()
    assert (calls, sleeps) == ([1], [])


def _client(handler: httpx.MockTransport, sleeps: RecordedSleeps, attempts: int) -> EsiClient:
    settings = FetcherSettings(max_attempts=attempts, esi_base_url="http://esi.test")
    http = httpx.AsyncClient(base_url="http://esi.test", transport=handler)
    policy = RetryPolicy(attempts, base_seconds=0.2, max_seconds=1.0, sleep=sleeps)
    return EsiClient(http, Governor(4, 20), settings, policy)


async def test_esi_client_gives_up_after_its_attempts_on_transient_answers() -> None:
    statuses: list[int] = []

    def always_503(request: httpx.Request) -> httpx.Response:
        statuses.append(503)
        return httpx.Response(503, text="<html>Service Unavailable</html>")

    sleeps = RecordedSleeps()
    client = _client(httpx.MockTransport(always_503), sleeps, attempts=5)
    with pytest.raises(TransientEsiError, match="HTTP 503 after 5 attempts"):
        await client.get("contracts", "/contracts/public/1", priority=Priority.DISCOVERY)
    assert len(statuses) == 5
    assert len(sleeps) == 4
    assert all(0 <= s <= min(1.0, 0.2 * 2 ** (n - 1)) for n, s in enumerate(sleeps, start=1))


async def test_esi_client_returns_the_first_usable_answer_and_never_retries_a_gone_one() -> None:
    answers = iter([httpx.Response(502), httpx.Response(204), httpx.Response(200)])
    seen: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        response = next(answers)
        seen.append(response.status_code)
        return response

    sleeps = RecordedSleeps()
    client = _client(httpx.MockTransport(handler), sleeps, attempts=5)
    response = await client.get("items", "/contracts/public/items/1", priority=Priority.ENRICHMENT)
    assert response.gone
    assert seen == [502, 204]
    assert len(sleeps) == 1
