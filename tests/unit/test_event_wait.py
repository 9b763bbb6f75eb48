"""``event_set_within``: set, timed out, and never losing a cancellation."""

from __future__ import annotations

import asyncio

import pytest

from common.event_wait import event_set_within


async def test_an_event_set_in_time_is_seen() -> None:
    event = asyncio.Event()
    waiting = asyncio.create_task(event_set_within(event, 10))
    await asyncio.sleep(0)
    event.set()
    assert await waiting is True


async def test_an_event_not_set_in_time_is_not() -> None:
    assert await event_set_within(asyncio.Event(), 0.01) is False


async def test_a_cancellation_arriving_as_the_event_is_set_is_not_lost() -> None:
    """The race ``asyncio.wait_for`` loses on Python 3.11: the event is set, then the waiting
    task is cancelled before it runs again."""
    event = asyncio.Event()
    waiting = asyncio.create_task(event_set_within(event, 10))
    await asyncio.sleep(0)
    event.set()
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
