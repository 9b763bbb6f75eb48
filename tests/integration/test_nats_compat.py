"""The pull-fetch timeout translation, on a real JetStream."""

from __future__ import annotations

import asyncio
import inspect
import time

import pytest
from nats.errors import ConnectionClosedError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.client import JetStreamContext

from common.settings import HangarSettings
from common.subjects import Subjects
from services.persister.nats_compat import translating_timeouts
from tests.support.stream import jetstream

ATTEMPTS = 300


async def _timeouts(settings: HangarSettings, translate: bool) -> dict[str, int]:
    """Kinds of errors of many short fetches on an empty stream."""
    subjects = Subjects(settings.name_prefix)
    # the original, even if a persister started in this process has already wrapped it
    fetch = inspect.unwrap(JetStreamContext.PullSubscription.fetch)
    if translate:
        fetch = translating_timeouts(fetch)
    kinds: dict[str, int] = {}
    async with jetstream(settings) as (_, js):
        subscription = await js.pull_subscribe(
            subjects.all_events, durable=f"{settings.name_prefix}_timeouts", stream=subjects.stream
        )
        for attempt in range(ATTEMPTS):
            try:
                await fetch(subscription, 4, timeout=0.001 + (attempt % 10) * 0.001)
                kinds["returned"] = kinds.get("returned", 0) + 1
            except NatsTimeoutError:
                kinds["nats"] = kinds.get("nats", 0) + 1
            except TimeoutError:
                kinds["bare"] = kinds.get("bare", 0) + 1
    return kinds


async def test_a_fetch_that_runs_out_of_time_raises_only_the_nats_timeout(
    settings: HangarSettings,
) -> None:
    """On a real server, with deadlines short enough that nats-py's fetch runs out of time
    between its two pull requests (where it raises asyncio's bare error, some of the time:
    the count without translation is in the failure message, for whoever wonders whether the
    workaround is still needed)."""
    translated = await _timeouts(settings, translate=True)
    assert "bare" not in translated, (translated, await _timeouts(settings, translate=False))
    assert translated.get("nats", 0) > 0, translated


async def test_the_bare_timeout_becomes_the_nats_timeout() -> None:
    async def runs_out_of_time(_: object, batch: int, timeout: float) -> list[object]:
        await asyncio.sleep(timeout)
        raise TimeoutError  # what nats-py's _fetch_n raises between its requests

    with pytest.raises(NatsTimeoutError):
        await translating_timeouts(runs_out_of_time)(None, 4, 0.01)


async def test_a_fetch_that_fails_at_once_lasts_its_timeout() -> None:
    """While the server is unreachable, fetches fail at once and FastStream's loop would fetch
    again at once: the translated fetch waits out its timeout instead of spinning."""

    async def unreachable(_: object, batch: int, timeout: float) -> list[object]:
        raise ConnectionClosedError

    fetch = translating_timeouts(unreachable)
    started = time.monotonic()
    with pytest.raises(ConnectionClosedError):
        await fetch(None, 4, 0.3)
    assert time.monotonic() - started >= 0.3
