"""The notifier's durable pull consumer on the contracts batches of the stream; its fetches
go to :func:`handle` through :mod:`common.pull_loop`.

It never alerts a contract the API cannot show: a batch is matched only once every one of
its contracts is committed by the persister (visible in PostgreSQL). Until then it is held,
looked at again on each of the persister's commit notifications (:mod:`.commits`) or every
``visibility_retry_seconds`` without one, for at most ``visibility_hold_seconds``; then it is
handed back with that delay (JetStream keeps it: a notifier killed while holding it loses
nothing). After ``visibility_patience_seconds`` the contracts that are there are matched (the
rest were dead-lettered by the persister).

Only the contracts this batch is the first sighting of are matched (their ``first_seen_at`` is
not before its ``fetched_at``): a contract published again in a later batch (the fetcher
publishes a contract once, unless it lost track of what it published) alerts nothing again.

Ack policy is explicit: a message is acked after the transaction that recorded its alerts
commits; if that fails nothing is acked and it comes again (alerts are unique per (search,
contract), so matching twice records nothing new). A message that is not a valid contracts
batch is acked: the persister dead-letters it with the reason, there is nothing to alert.

A replay reads the stream into another database without this consumer: it alerts no one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
import orjson
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig
from pydantic import ValidationError

from common.consumers import live_consumer_config, live_pull_subscription
from common.messages import ContractsBatch, parse_message
from common.pull_loop import Handler
from common.subjects import Subjects
from services.notifier import metrics
from services.notifier.commits import CommitSignal
from services.notifier.matching import MatchResult, match_contracts, visible_contracts
from services.notifier.settings import NotifierSettings

log = logging.getLogger(__name__)


#: Delay before a batch whose matching failed (the database unreachable) comes again.
OUTAGE_RETRY_SECONDS = 2.0


def consumer_config(settings: NotifierSettings) -> ConsumerConfig:
    """Redelivered without limit: a batch waits for the persister as long as its patience
    says, and a database outage is retried as long as it lasts."""
    subjects = Subjects(settings.name_prefix)
    return live_consumer_config(
        subjects.notifier_durable,
        subjects.all_contracts,
        ack_wait_seconds=settings.ack_wait_seconds,
        fetch_batch=settings.fetch_batch,
    )


async def pull_subscription(
    js: JetStreamContext, settings: NotifierSettings
) -> JetStreamContext.PullSubscription:
    """The notifier's durable pull consumer (created with its configuration if missing)."""
    return await live_pull_subscription(
        js, Subjects(settings.name_prefix), consumer_config(settings)
    )


async def handle(
    pool: asyncpg.Pool,
    settings: NotifierSettings,
    commits: CommitSignal,
    message: Msg,
    held_until: float | None = None,
) -> MatchResult | None:
    """Match one message and settle it (raises when the database fails: not settled).

    ``held_until`` (``time.monotonic()``): the end of its wait for the persister, by default
    ``visibility_hold_seconds`` from now."""
    batch = _read_ids(message.data)
    validated = False
    if batch is None:
        batch = _validated(message.data)
        validated = True
    if batch is None:
        log.info("not a contracts batch: nothing to match", extra={"subject": message.subject})
        await message.ack()
        return None
    contract_ids = batch.contract_ids
    received_at = message.metadata.timestamp or datetime.now(UTC)
    if held_until is None:
        held_until = time.monotonic() + settings.visibility_hold_seconds
    while True:
        seen = commits.generation
        async with pool.acquire() as connection:
            visible = await visible_contracts(connection, contract_ids, batch.fetched_at)
            waited = (datetime.now(UTC) - received_at).total_seconds()
            if visible.count == len(contract_ids) or waited >= settings.visibility_patience_seconds:
                result = MatchResult(0, 0, 0)
                if visible.first_seen:
                    result = await match_contracts(connection, visible.first_seen, received_at)
                break
        if not validated:  # before waiting for contracts the persister may refuse
            validated = True
            if _validated(message.data) is None:
                log.info("not a valid contracts batch: nothing to match")
                await message.ack()
                return None
        hold = held_until - time.monotonic()
        if hold <= 0 or commits.closed:
            metrics.WAITS.inc()
            await message.nak(delay=settings.visibility_retry_seconds)
            return None
        await commits.wait_after(seen, timeout=min(hold, settings.visibility_retry_seconds))
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


@dataclass(frozen=True)
class BatchIds:
    """What matching needs of a contracts batch."""

    region_id: int
    fetched_at: datetime
    contract_ids: list[int]


def _read_ids(data: bytes) -> BatchIds | None:
    """The ids and read time of what looks like a contracts batch, the rest not validated (a
    1000-contract batch takes ~10x longer to validate). Enough when its contracts are all
    committed: the persister has validated it. ``None``: to be validated."""
    try:
        body = orjson.loads(data)
        if body.get("kind") != "contracts":
            return None
        fetched_at = datetime.fromisoformat(body["fetched_at"])
        region_id = int(body["region_id"])
        contract_ids = list(dict.fromkeys(int(c["contract_id"]) for c in body["contracts"]))
    except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError, ValueError):
        return None
    if fetched_at.tzinfo is None or not contract_ids:
        return None
    return BatchIds(region_id, fetched_at, contract_ids)


def _validated(data: bytes) -> BatchIds | None:
    """The batch, validated as the persister validates it; ``None`` if it is not a valid
    contracts batch."""
    try:
        batch = parse_message(data)
    except ValidationError:
        return None
    if not isinstance(batch, ContractsBatch):
        return None
    return BatchIds(
        batch.region_id,
        batch.fetched_at,
        list(dict.fromkeys(contract.contract_id for contract in batch.contracts)),
    )


def fetch_handler(
    pool: asyncpg.Pool, settings: NotifierSettings, commits: CommitSignal, queued: asyncio.Event
) -> Handler:
    """Match and settle each message of a fetch; never raises, so that the pull loop never
    ends (``queued`` is set when webhook calls were queued)."""

    async def match_fetch(messages: list[Msg], earlier: frozenset[asyncio.Task[None]]) -> None:
        # One hold for the whole fetch: when the persister does not come, the messages behind
        # the first are handed back at once instead of each waiting (past their ack_wait).
        held_until = time.monotonic() + settings.visibility_hold_seconds
        for message in messages:
            try:
                result = await handle(pool, settings, commits, message, held_until)
            except Exception:
                log.exception("batch not matched; handed back for a retry")
                with contextlib.suppress(Exception):
                    await message.nak(delay=OUTAGE_RETRY_SECONDS)
            else:
                if result is not None and result.webhooks:
                    queued.set()

    return match_fetch
