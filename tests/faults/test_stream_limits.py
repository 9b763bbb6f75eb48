"""The stream's limits reached, on real JetStream: an unconsumed batch is never lost silently.

With ``discard: old`` a stream at ``max_bytes`` deletes its oldest messages to make room, even
those no consumer has had yet; the publisher is told "stored" and nobody learns of the loss.
The stream must refuse the new message instead, so that the fetcher's publish fails and is
retried (it records a contract as published only after JetStream acknowledged it).
"""

from __future__ import annotations

import nats
import pytest
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy
from nats.js.errors import APIError

from common.messages import ContractsBatch
from common.settings import HangarSettings
from common.stream import StreamLimits, ensure_streams, stream_config
from common.subjects import Subjects
from services.fetcher.publisher import Publisher
from services.persister.consumer import consumer_config
from services.persister.settings import PersisterSettings
from tests.support import factories as f

pytestmark = pytest.mark.faults

#: A stream that a few dozen batches fill.
SMALL = StreamLimits(max_bytes=64 * 1024, max_msg_size=16 * 1024)
NATS_MAX_PAYLOAD = 1024**2


def _batch(serial: int) -> ContractsBatch:
    return f.batch([f.contract(5_000_000 + serial, items=6)], gen=serial)


async def _fill(publisher: Publisher, first_serial: int) -> tuple[int, Exception | None]:
    """Publish batches until the stream refuses one (or 1,000 went in): how many went in,
    and the error."""
    for serial in range(first_serial, first_serial + 1000):
        try:
            await publisher.contracts(_batch(serial))
        except Exception as error:
            return serial - first_serial, error
    return 1000, None


async def _create_durable(js: JetStreamContext, settings: HangarSettings) -> None:
    """The persister's durable consumer, created and never fetched from: nothing consumed."""
    subjects = Subjects(settings.name_prefix)
    persister = PersisterSettings.model_validate(settings.model_dump())
    await js.add_consumer(subjects.stream, consumer_config(persister))


async def test_a_full_stream_refuses_the_publish_and_keeps_every_unconsumed_batch(
    settings: HangarSettings,
) -> None:
    subjects = Subjects(settings.name_prefix)
    client = await nats.connect(settings.nats_url)
    try:
        js = client.jetstream()
        await ensure_streams(js, subjects, SMALL)
        await _create_durable(js, settings)
        publisher = Publisher(js, subjects, NATS_MAX_PAYLOAD)
        first = _batch(0)
        await publisher.contracts(first)
        stored, error = await _fill(publisher, 1)
        info = await js.stream_info(subjects.stream)
        consumer = await js.consumer_info(subjects.stream, subjects.persister_durable)
        oldest = await js.get_msg(subjects.stream, info.state.first_seq)
    finally:
        await client.close()

    assert stored > 0, "the stream refused publishes before it was full"
    assert isinstance(error, APIError), f"the full stream accepted every publish ({error!r})"
    assert "maximum bytes" in str(error.description).lower(), error
    assert info.state.first_seq == 1, "the oldest batch was deleted to make room"
    assert info.state.messages == 1 + stored
    assert info.state.bytes <= SMALL.max_bytes
    assert oldest.data == first.to_json()
    assert consumer.num_pending == 1 + stored, "batches the persister never had are gone"


async def test_a_stream_made_with_discard_old_is_brought_to_discard_new(
    settings: HangarSettings,
) -> None:
    """A deployment that created its stream before the change gets it on the next start."""
    subjects = Subjects(settings.name_prefix)
    old = stream_config(subjects, SMALL)
    old.discard = DiscardPolicy.OLD
    client = await nats.connect(settings.nats_url)
    try:
        js = client.jetstream()
        await js.add_stream(old)
        await ensure_streams(js, subjects, SMALL)
        info = await js.stream_info(subjects.stream)
        publisher = Publisher(js, subjects, NATS_MAX_PAYLOAD)
        stored, error = await _fill(publisher, 0)
        after = await js.stream_info(subjects.stream)
    finally:
        await client.close()

    assert info.config.discard == DiscardPolicy.NEW
    assert isinstance(error, APIError), f"the full stream accepted every publish ({error!r})"
    assert after.state.first_seq == 1
    assert after.state.messages == stored
