"""Applying delivered messages to the database: one transaction for a whole fetch, with
isolation of whatever fails so that it never blocks the valid messages beside it.

Independent of NATS: the consumer and the replay both hand it :class:`Delivery` records and
act on the :class:`Outcome` (ack, retry later, dead-letter).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg
from pydantic import ValidationError

from common.messages import (
    BidsBatch,
    ContractsBatch,
    ContractsDelisted,
    Event,
    RegionSweep,
    parse_message,
)
from services.persister.repository import (
    ApplyResult,
    DbConnection,
    MissingContractsError,
    apply_bids,
    apply_contracts,
    apply_delisted,
    apply_sweep,
)

log = logging.getLogger(__name__)

Parsed = Event

#: Errors that say the data is wrong, not that the database is unreachable.
DATA_ERRORS = (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError, ValueError)


@dataclass(frozen=True)
class Delivery:
    body: bytes
    subject: str
    stream_sequence: int | None = None
    deliveries: int = 1
    published_at: datetime | None = None


@dataclass(frozen=True)
class Rejected:
    """A message (or the part of one) that cannot be applied, with the reason."""

    index: int
    reason: str
    body: bytes


@dataclass
class Outcome:
    applied: list[int] = field(default_factory=list)
    retry: dict[int, str] = field(default_factory=dict)
    rejected: list[Rejected] = field(default_factory=list)
    result: ApplyResult = field(default_factory=ApplyResult)
    contracts: int = 0


async def _apply_all(connection: DbConnection, messages: Sequence[Parsed]) -> ApplyResult:
    """Contracts first, then bids (they need their contracts), then sweeps and delistings
    in stream order.

    Sweeps and delistings only touch rows older than their own generation, so applying them
    after newer contracts of the same fetch is equivalent to applying them in stream order.
    """
    result = await apply_contracts(
        connection, [m for m in messages if isinstance(m, ContractsBatch)]
    )
    bids = [m for m in messages if isinstance(m, BidsBatch)]
    if bids:
        result += await apply_bids(connection, bids)
    for message in messages:
        if isinstance(message, ContractsDelisted):
            result += await apply_delisted(connection, message)
        elif isinstance(message, RegionSweep):
            result += await apply_sweep(connection, message)
    return result


async def apply_deliveries(pool: asyncpg.Pool, deliveries: Sequence[Delivery]) -> Outcome:
    """Apply every valid delivery; say which to ack, retry or dead-letter.

    Connection-level failures (database down) propagate: nothing is acked and everything
    is delivered again later.
    """
    outcome = Outcome()
    # Parsing megabytes of JSON holds the CPU for a while: in a worker thread the event loop
    # keeps answering NATS (heartbeats, acks) meanwhile.
    parsed, rejected = await asyncio.to_thread(_parse_all, deliveries)
    outcome.rejected.extend(rejected)
    if not parsed:
        return outcome
    async with pool.acquire() as connection:
        try:
            async with connection.transaction():
                outcome.result = await _apply_all(connection, list(parsed.values()))
        except (*DATA_ERRORS, MissingContractsError) as error:
            log.warning("batch failed, isolating its messages", extra={"error": str(error)})
            outcome.result = ApplyResult()
            for index, message in parsed.items():
                await _apply_alone(connection, index, message, deliveries[index], outcome)
        else:
            outcome.applied.extend(parsed)
    for index in outcome.applied:
        message = parsed[index]
        if isinstance(message, ContractsBatch):
            outcome.contracts += len(message.contracts)
    return outcome


async def _apply_alone(
    connection: DbConnection,
    index: int,
    message: Parsed,
    delivery: Delivery,
    outcome: Outcome,
) -> None:
    try:
        async with connection.transaction():
            outcome.result += await _apply_all(connection, [message])
    except MissingContractsError as error:
        outcome.retry[index] = str(error)
    except DATA_ERRORS as error:
        if isinstance(message, ContractsBatch) and len(message.contracts) > 1:
            await _apply_contract_by_contract(connection, index, message, outcome)
        else:
            reason = f"cannot be applied: {type(error).__name__}: {error}"
            outcome.rejected.append(Rejected(index, reason, delivery.body))
    else:
        outcome.applied.append(index)


async def _apply_contract_by_contract(
    connection: DbConnection, index: int, batch: ContractsBatch, outcome: Outcome
) -> None:
    """Each contract with its items in its own transaction; the failing ones are rejected."""
    for contract in batch.contracts:
        single = batch.model_copy(update={"contracts": [contract]})
        try:
            async with connection.transaction():
                outcome.result += await apply_contracts(connection, [single])
        except DATA_ERRORS as error:
            reason = (
                f"contract {contract.contract_id} cannot be applied: "
                f"{type(error).__name__}: {error}"
            )
            outcome.rejected.append(Rejected(index, reason, single.to_json()))
    # the message is settled: its valid contracts are committed, the others dead-lettered
    outcome.applied.append(index)


def _parse_all(deliveries: Sequence[Delivery]) -> tuple[dict[int, Parsed], list[Rejected]]:
    parsed: dict[int, Parsed] = {}
    rejected: list[Rejected] = []
    for index, delivery in enumerate(deliveries):
        try:
            parsed[index] = parse_message(delivery.body)
        except ValidationError as error:
            reason = f"invalid message: {_summary(error)}"
            rejected.append(Rejected(index, reason, delivery.body))
    return parsed, rejected


def _summary(error: ValidationError) -> str:
    first = error.errors()[0]
    location = ".".join(str(part) for part in first["loc"])
    return f"{error.error_count()} error(s); first at {location or '<root>'}: {first['msg']}"
