"""The notifier's durable pull consumer on the contracts batches of the stream.

It never alerts a contract the API cannot show: a batch is matched only once every one of
its contracts is committed by the persister (visible in PostgreSQL); until then it is handed
back with a short delay. After ``visibility_patience_seconds`` the contracts that are there are
matched (the rest were dead-lettered by the persister). Ack policy is explicit: a message is
acked after the transaction that recorded its alerts commits; if that fails nothing is acked
and it comes again (alerts are unique per (search, contract), so matching twice records
nothing new). A message that is not a valid contracts batch is acked: the persister
dead-letters it with the reason, there is nothing to alert.

A replay reads the stream into another database without this consumer: it alerts no one.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import asyncpg
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from pydantic import ValidationError

from common.messages import ContractsBatch, parse_message
from common.subjects import Subjects
from services.notifier import metrics
from services.notifier.matching import MatchResult, match_contracts, visible_contracts
from services.notifier.settings import NotifierSettings

log = logging.getLogger(__name__)


def consumer_config(settings: NotifierSettings) -> ConsumerConfig:
    subjects = Subjects(settings.name_prefix)
    return ConsumerConfig(
        durable_name=subjects.notifier_durable,
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=settings.ack_wait_seconds,
        # unlimited: a batch waits for the persister as long as its patience says, and a
        # database outage is retried as long as it lasts
        max_deliver=-1,
        max_ack_pending=max(1000, settings.fetch_batch * 8),
        filter_subject=subjects.all_contracts,
    )


async def handle(
    pool: asyncpg.Pool, settings: NotifierSettings, message: Msg
) -> MatchResult | None:
    """Match one message and settle it (raises when the database fails: not settled)."""
    try:
        batch = parse_message(message.data)
    except ValidationError:
        batch = None
    if not isinstance(batch, ContractsBatch):
        log.info("not a contracts batch: nothing to match", extra={"subject": message.subject})
        await message.ack()
        return None
    contract_ids = [contract.contract_id for contract in batch.contracts]
    received_at = message.metadata.timestamp or datetime.now(UTC)
    async with pool.acquire() as connection:
        visible = await visible_contracts(connection, contract_ids)
        waited = (datetime.now(UTC) - received_at).total_seconds()
        if visible < len(contract_ids) and waited < settings.visibility_patience_seconds:
            metrics.WAITS.inc()
            await message.nak(delay=settings.visibility_retry_seconds)
            return None
        result = await match_contracts(connection, contract_ids, received_at)
    await message.ack_sync(timeout=10)
    metrics.BATCHES.inc()
    metrics.ALERTS.inc(result.alerts)
    if result.alerts:
        log.info(
            "alerts recorded",
            extra={
                "alerts": result.alerts,
                "throttled": result.throttled,
                "webhooks": result.webhooks,
                "region": batch.region_id,
            },
        )
    return result
