"""Publishing to and reading from the test's own JetStream stream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from common.messages import (
    BidsBatch,
    ContractsBatch,
    ContractsDelisted,
    DeadLetter,
    Event,
    ReferenceData,
)
from common.settings import HangarSettings
from common.stream import ensure_streams
from common.subjects import Subjects


@asynccontextmanager
async def jetstream(settings: HangarSettings) -> AsyncIterator[tuple[Client, JetStreamContext]]:
    client = await nats.connect(settings.nats_url)
    try:
        js = client.jetstream()
        await ensure_streams(js, Subjects(settings.name_prefix))
        yield client, js
    finally:
        await client.close()


def subject_of(subjects: Subjects, message: Event) -> str:
    if isinstance(message, ContractsBatch):
        return subjects.contracts(message.region_id, message.batch_key())
    if isinstance(message, BidsBatch):
        return subjects.bids(message.region_id, message.batch_key())
    if isinstance(message, ContractsDelisted):
        return subjects.delisted(message.region_id, str(int(message.generation.timestamp())))
    if isinstance(message, ReferenceData):
        return subjects.reference(message.batch_key())
    return subjects.sweep(message.region_id)


async def publish(
    js: JetStreamContext,
    settings: HangarSettings,
    *messages: Event,
) -> None:
    subjects = Subjects(settings.name_prefix)
    for message in messages:
        await js.publish(
            subject_of(subjects, message),
            message.to_json(),
            headers={"Nats-Msg-Id": message.message_id()},
        )


async def dead_letters(js: JetStreamContext, settings: HangarSettings) -> list[DeadLetter]:
    subjects = Subjects(settings.name_prefix)
    info = await js.stream_info(subjects.dead_letter_stream)
    letters = []
    for sequence in range(info.state.first_seq, info.state.last_seq + 1):
        if info.state.messages == 0:
            break
        raw = await js.get_msg(subjects.dead_letter_stream, sequence)
        assert raw.data is not None
        letters.append(DeadLetter.model_validate_json(raw.data))
    return letters


async def stream_messages(
    js: JetStreamContext, settings: HangarSettings
) -> list[tuple[str, Event]]:
    """Every message retained in the test's stream, in stream order."""
    from common.messages import parse_message  # noqa: PLC0415

    subjects = Subjects(settings.name_prefix)
    info = await js.stream_info(subjects.stream)
    found: list[tuple[str, Event]] = []
    if not info.state.messages:
        return found
    subscription = await js.subscribe(subjects.all_events, ordered_consumer=True)
    try:
        for _ in range(info.state.messages):
            message = await subscription.next_msg(timeout=5)
            found.append((message.subject, parse_message(message.data)))
    finally:
        await subscription.unsubscribe()
    return found


async def consumer_settled(js: JetStreamContext, stream: str, durable: str) -> bool:
    """The durable consumer has delivered something, and nothing is left to deliver or
    waiting for an ack."""
    try:
        info = await js.consumer_info(stream, durable)
    except NotFoundError:
        return False
    return bool(info.delivered.stream_seq) and not info.num_pending and not info.num_ack_pending
