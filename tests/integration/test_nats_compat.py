"""The pull-fetch timeout translation, on a real JetStream."""

from __future__ import annotations

import asyncio
import inspect
import time
from typing import Any

import pytest
from nats.errors import ConnectionClosedError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.client import JetStreamContext

from common.settings import HangarSettings
from common.subjects import Subjects
from services.persister.nats_compat import (
    Fetch,
    hand_back_unsettled,
    stop_fetching,
    translating_timeouts,
)
from tests.support.stream import jetstream

ATTEMPTS = 300
#: nats-py's own fetch, even if a persister started in this process has already wrapped it
_ORIGINAL_FETCH = inspect.unwrap(JetStreamContext.PullSubscription.fetch)


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


async def _fetch_cancelled_then_handed_back(settings: HangarSettings, fetch: Fetch) -> None:
    """Publish 20 messages, start fetching 8 with ``fetch`` (wrapped), cancel the caller as
    FastStream does when it stops, stop fetching and hand back: all 8 must be delivered again
    at once, not after ack_wait."""
    subjects = Subjects(settings.name_prefix)
    wrapped = translating_timeouts(fetch)
    async with jetstream(settings) as (_, js):
        for region in range(20):
            await js.publish(subjects.sweep(10000000 + region), b"{}")
        subscription = await js.pull_subscribe(
            subjects.all_events, durable=f"{settings.name_prefix}_cancelled", stream=subjects.stream
        )
        caller: asyncio.Future[list[Any]] = asyncio.ensure_future(
            wrapped(subscription, 8, timeout=2.0)
        )
        await asyncio.sleep(0.1)
        caller.cancel()
        with pytest.raises(asyncio.CancelledError):
            await caller
        await stop_fetching([subscription], grace_seconds=0.2)
        assert await hand_back_unsettled(subscription) == 8
        with pytest.raises(NatsTimeoutError):  # stopped: fetches nothing
            await wrapped(subscription, 8, timeout=0.3)
        again = await _ORIGINAL_FETCH(subscription, 20, timeout=1.0)
        assert sorted(m.metadata.num_delivered for m in again) == [1] * 12 + [2] * 8


async def test_a_fetch_cancelled_while_gathering_hands_its_messages_back(
    settings: HangarSettings,
) -> None:
    """The messages a cancelled fetch had already taken from its inbox (nats-py keeps them in
    a local list until the batch is complete)."""

    async def gathering_slowly(subscription: Any, batch: int, timeout: float) -> list[Any]:
        messages: list[Any] = await _ORIGINAL_FETCH(subscription, batch, timeout=timeout)
        await asyncio.sleep(0.3)  # still waiting for the rest of the batch when cancelled
        return messages

    await _fetch_cancelled_then_handed_back(settings, gathering_slowly)


async def test_what_a_cancelled_fetch_asked_for_is_handed_back(settings: HangarSettings) -> None:
    """The messages the server sends to a pull request whose fetch was cancelled."""

    async def cancelled_at_once(subscription: Any, batch: int, timeout: float) -> list[Any]:
        task = asyncio.ensure_future(_ORIGINAL_FETCH(subscription, batch, timeout=timeout))
        for _ in range(3):
            await asyncio.sleep(0)  # the pull request goes out; the answer takes longer
        assert not task.done()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        raise asyncio.CancelledError

    await _fetch_cancelled_then_handed_back(settings, cancelled_at_once)
