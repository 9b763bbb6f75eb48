"""The pull-consume loop shared by the persister and the replay, on a real JetStream."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from common.pull_loop import PullLoop
from common.settings import HangarSettings
from common.subjects import Subjects
from tests.support.stream import jetstream
from tests.support.waiting import wait_until

#: Far longer than any test here: a message not handed back is not redelivered in time.
ACK_WAIT_SECONDS = 120.0


@dataclass
class Handled:
    messages: list[Msg] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def __call__(self, messages: list[Msg], earlier: frozenset[asyncio.Task[None]]) -> None:
        for message in messages:
            await message.ack()
        self.messages += messages
        self.arrived.set()


@dataclass
class Consumer:
    client: Client
    js: JetStreamContext
    subjects: Subjects
    durable: str

    def config(self) -> ConsumerConfig:
        return ConsumerConfig(
            durable_name=self.durable,
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=ACK_WAIT_SECONDS,
            filter_subject=self.subjects.all_events,
        )

    async def subscribe(self) -> JetStreamContext.PullSubscription:
        return await self.js.pull_subscribe(
            self.subjects.all_events,
            durable=self.durable,
            stream=self.subjects.stream,
            config=self.config(),
        )

    async def publish(self, count: int) -> None:
        for region in range(count):
            await self.js.publish(self.subjects.sweep(10000000 + region), b"{}")

    async def deliverable_at_once(self, expected: int) -> list[Msg]:
        """What a new fetch gets within a few seconds (well within ``ack_wait``)."""
        subscription = await self.subscribe()
        delivered: list[Msg] = []
        with contextlib.suppress(NatsTimeoutError):
            for _ in range(10):
                delivered += await subscription.fetch(expected - len(delivered), timeout=0.5)
                if len(delivered) >= expected:
                    break
        await subscription.unsubscribe()
        return delivered


@pytest.fixture
async def consumer(settings: HangarSettings) -> AsyncIterator[Consumer]:
    async with jetstream(settings) as (client, js):
        subjects = Subjects(settings.name_prefix)
        yield Consumer(client, js, subjects, f"{settings.name_prefix}_loop")


async def _until(condition: asyncio.Event, running: asyncio.Task[None]) -> None:
    waiting = asyncio.create_task(condition.wait())
    await asyncio.wait({waiting, running}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
    waiting.cancel()


async def test_stopping_while_a_fetch_is_under_way_hands_its_messages_back(
    consumer: Consumer,
) -> None:
    """The fetch under way is not cancelled: the messages its pull request brings after the
    stop reach the loop, which hands them back. Nothing waits for ack_wait: what was delivered
    is redelivered at once, the rest is delivered for the first time."""
    handled = Handled()
    loop = PullLoop(
        consumer.client, await consumer.subscribe(), handled, batch=8, fetch_timeout=3.0
    )
    running = asyncio.create_task(loop.run())

    async def pull_request_waiting_on_the_server() -> bool:
        if running.done():
            return True  # its error is raised below
        info = await consumer.js.consumer_info(consumer.subjects.stream, consumer.durable)
        return bool(loop.counts.fetches and info.num_waiting)

    await wait_until(
        pull_request_waiting_on_the_server, timeout=30, what="a pull request on the server"
    )
    if running.done():
        await running
    loop.stop()
    await consumer.publish(5)
    await asyncio.wait_for(running, timeout=30)
    assert handled.messages == []
    assert loop.counts.messages >= 1, "the fetch under way brought nothing: nothing tested"
    assert loop.counts.handed_back == loop.counts.messages
    again = await consumer.deliverable_at_once(5)
    redelivered = [m.metadata.num_delivered for m in again]
    assert len(again) == 5, f"{5 - len(again)} wait for ack_wait"
    assert sorted(redelivered) == [1] * (5 - loop.counts.messages) + [2] * loop.counts.messages


async def test_a_bare_fetch_timeout_is_an_empty_round(consumer: Consumer) -> None:
    """With deadlines this short, nats-py's fetch often runs out of time between its two pull
    requests and raises asyncio's bare TimeoutError instead of its own: still an empty round,
    not a failure, and the loop goes on to handle what comes next."""
    handled = Handled()
    deadlines = iter(range(10**6))

    def fetch_timeout() -> float:
        attempt = next(deadlines)
        return 0.001 + (attempt % 10) * 0.001 if attempt < 300 else 1.0

    loop = PullLoop(
        consumer.client,
        await consumer.subscribe(),
        handled,
        batch=4,
        fetch_timeout=fetch_timeout,
    )
    running = asyncio.create_task(loop.run())
    while loop.counts.fetches < 300 and not running.done():
        await asyncio.sleep(0.05)
    await consumer.publish(3)
    while len(handled.messages) < 3 and not running.done():
        await _until(handled.arrived, running)
        handled.arrived.clear()
    loop.stop()
    await asyncio.wait_for(running, timeout=30)
    assert len(handled.messages) == 3
    assert loop.counts.failed_fetches == 0, (loop.counts, await _bare_timeouts(consumer))
    assert loop.counts.empty_rounds >= 297, loop.counts


async def _bare_timeouts(consumer: Consumer) -> int:
    """How many of 300 such fetches raise asyncio's bare error: for whoever wonders whether
    nats-py still does."""
    subscription = await consumer.subscribe()
    bare = 0
    for attempt in range(300):
        try:
            await subscription.fetch(4, timeout=0.001 + (attempt % 10) * 0.001)
        except NatsTimeoutError:
            pass
        except TimeoutError:
            bare += 1
    await subscription.unsubscribe()
    return bare


async def test_a_failing_fetch_backs_off_and_the_loop_goes_on(consumer: Consumer) -> None:
    """The consumer removed under the loop: its fetches fail until it is back, with pauses in
    between (no busy loop), and the loop then consumes as before."""
    handled = Handled()
    loop = PullLoop(
        consumer.client, await consumer.subscribe(), handled, batch=4, fetch_timeout=0.2
    )
    running = asyncio.create_task(loop.run())
    await consumer.js.delete_consumer(consumer.subjects.stream, consumer.durable)
    while loop.counts.failed_fetches < 3 and not running.done():
        await asyncio.sleep(0.05)
    await consumer.js.add_consumer(consumer.subjects.stream, consumer.config())
    await consumer.publish(2)
    while len(handled.messages) < 2 and not running.done():
        await _until(handled.arrived, running)
        handled.arrived.clear()
    loop.stop()
    await asyncio.wait_for(running, timeout=30)
    assert len(handled.messages) == 2
    # 0.2 s, 0.4 s, 0.8 s ... between failures: a loop without them fails hundreds of times
    assert 3 <= loop.counts.failed_fetches <= 8, loop.counts
