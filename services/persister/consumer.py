"""The JetStream side of the persister: a durable pull consumer whose fetches go to the
applier (through :mod:`common.pull_loop`); every message is settled only after its outcome is
committed.

Ack policy is explicit (acks are the handler's, never the library's): a message is acked after
its transaction commits; a message that cannot be applied is copied to the dead-letter stream
with the reason and its stream sequence, then terminated; a message whose dependencies are not
there yet is handed back with a delay; when the database or NATS fails under a fetch, the whole
fetch is handed back with a delay (what was acked stays acked: applying twice is a no-op).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from datetime import UTC, datetime

import asyncpg
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig

from common.consumers import live_consumer_config, live_pull_subscription
from common.messages import DeadLetter
from common.pull_loop import Handler
from common.subjects import Subjects
from services.persister import metrics
from services.persister.applier import Delivery, Outcome, Rejected, apply_deliveries
from services.persister.settings import PersisterSettings

log = logging.getLogger(__name__)

ACK_TIMEOUT_SECONDS = 10.0


def consumer_config(settings: PersisterSettings) -> ConsumerConfig:
    """Data that keeps failing is counted and dead-lettered here (:func:`settle`);
    infrastructure failures are retried, with backoff, for as long as they last."""
    subjects = Subjects(settings.name_prefix)
    return live_consumer_config(
        subjects.persister_durable,
        subjects.all_events,
        ack_wait_seconds=settings.ack_wait_seconds,
        fetch_batch=settings.fetch_batch,
    )


MAX_RETRY_DELAY_SECONDS = 60.0


#: Cap of the delay after an infrastructure failure (database or NATS unreachable): every
#: message of a backlog is delivered, fails and is handed back during an outage, so its count
#: of deliveries says how long the outage lasted, not how long the next one will; a longer
#: delay would only make the recovery slower.
MAX_OUTAGE_RETRY_DELAY_SECONDS = 10.0


def retry_delay(
    settings: PersisterSettings, deliveries: int, cap: float = MAX_RETRY_DELAY_SECONDS
) -> float:
    """Exponential backoff for messages that could not be settled."""
    delay: float = settings.retry_delay_seconds * 2.0 ** max(0, deliveries - 1)
    return min(cap, delay)


def delivery_of(message: Msg) -> Delivery:
    metadata = message.metadata
    return Delivery(
        body=message.data,
        subject=message.subject,
        stream_sequence=metadata.sequence.stream,
        deliveries=metadata.num_delivered,
        published_at=metadata.timestamp,
    )


async def dead_letter(
    js: JetStreamContext, subjects: Subjects, delivery: Delivery, rejected: Rejected
) -> None:
    """Copy a message to the dead-letter stream; only then may the original be settled."""
    letter = DeadLetter(
        reason=rejected.reason,
        subject=delivery.subject,
        stream_sequence=delivery.stream_sequence,
        deliveries=delivery.deliveries,
        failed_at=datetime.now(UTC),
        payload=rejected.body.decode("utf-8", errors="replace"),
    )
    reason_key = hashlib.sha256(rejected.reason.encode()).hexdigest()[:16]
    message_id = f"dead:{delivery.stream_sequence}:{reason_key}"
    await js.publish(
        subjects.dead_letter, letter.to_json(), timeout=10, headers={"Nats-Msg-Id": message_id}
    )
    metrics.DEAD_LETTERS.inc()
    log.error(
        "message dead-lettered",
        extra={"stream_sequence": delivery.stream_sequence, "reason": rejected.reason},
    )


async def settle(
    js: JetStreamContext,
    subjects: Subjects,
    settings: PersisterSettings,
    messages: list[Msg],
    deliveries: list[Delivery],
    outcome: Outcome,
) -> None:
    rejected_indexes = set()
    for rejected in outcome.rejected:
        await dead_letter(js, subjects, deliveries[rejected.index], rejected)
        rejected_indexes.add(rejected.index)
    for index, reason in outcome.retry.items():
        delivery = deliveries[index]
        waited = (
            (datetime.now(UTC) - delivery.published_at).total_seconds()
            if delivery.published_at is not None
            else float("inf")
        )
        if (
            delivery.deliveries >= settings.max_deliver
            and waited >= settings.missing_contract_patience_seconds
        ):
            await dead_letter(
                js,
                subjects,
                delivery,
                Rejected(
                    index,
                    f"gave up after {delivery.deliveries} deliveries: {reason}",
                    delivery.body,
                ),
            )
            await messages[index].term()
        else:
            metrics.RETRIES.inc()
            await messages[index].nak(delay=retry_delay(settings, delivery.deliveries))
    # Concurrently: each acknowledgement waits for the server to store it (with fsync when
    # the server syncs every write), and one after the other they cost a round trip each.
    await asyncio.gather(
        *(messages[index].ack_sync(timeout=ACK_TIMEOUT_SECONDS) for index in outcome.applied)
    )
    for index in rejected_indexes - set(outcome.applied):
        await messages[index].term()


async def handle_fetch(
    pool: asyncpg.Pool,
    js: JetStreamContext,
    settings: PersisterSettings,
    messages: list[Msg],
) -> Outcome:
    subjects = Subjects(settings.name_prefix)
    deliveries = [delivery_of(m) for m in messages]
    metrics.REDELIVERIES.inc(sum(1 for d in deliveries if d.deliveries > 1))
    started = time.perf_counter()
    outcome = await apply_deliveries(pool, deliveries, announce=True)
    metrics.BATCH_SECONDS.observe(time.perf_counter() - started)
    await settle(js, subjects, settings, messages, deliveries, outcome)
    for index in outcome.applied:
        metrics.MESSAGES_APPLIED.labels(deliveries[index].subject.split(".")[2]).inc()
    metrics.ROWS_WRITTEN.labels("contracts").inc(outcome.result.contracts_written)
    metrics.ROWS_WRITTEN.labels("contract_items").inc(outcome.result.items_written)
    metrics.ROWS_WRITTEN.labels("contract_bids").inc(outcome.result.bids_written)
    metrics.CONTRACTS_MARKED_GONE.inc(outcome.result.contracts_marked_gone)
    return outcome


async def pull_subscription(
    js: JetStreamContext, settings: PersisterSettings
) -> JetStreamContext.PullSubscription:
    """The persister's durable pull consumer (created with its configuration if missing)."""
    return await live_pull_subscription(
        js, Subjects(settings.name_prefix), consumer_config(settings)
    )


def fetch_handler(pool: asyncpg.Pool, js: JetStreamContext, settings: PersisterSettings) -> Handler:
    """Apply and settle one fetch; never raises, so that the pull loop never ends."""

    async def apply_fetch(messages: list[Msg], earlier: frozenset[asyncio.Task[None]]) -> None:
        try:
            await handle_fetch(pool, js, settings, messages)
        except Exception:
            # Database or NATS unreachable, or an ack lost: nothing of this fetch is known to
            # be settled, so hand every message back for a later retry (an acked one stays
            # acked; applying twice is a no-op).
            log.exception("fetch not settled; handing it back for a retry")
            for message in messages:
                with contextlib.suppress(Exception):
                    await message.nak(
                        delay=retry_delay(
                            settings, message.metadata.num_delivered, MAX_OUTAGE_RETRY_DELAY_SECONDS
                        )
                    )

    return apply_fetch
