"""Applying delivered messages to the database: one transaction for a whole fetch (its
sweeps and delistings in a second one, after it), with isolation of whatever fails so that it
never blocks the valid messages beside it.

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

from common.contract_commits import announce_contracts_committed
from common.derived_fields import lock_reference_data
from common.messages import (
    BidsBatch,
    ContractsBatch,
    ContractsDelisted,
    Event,
    ReferenceData,
    RegionSweep,
    parse_message,
)
from common.subjects import event_region, is_reference_subject
from services.persister.contract_rows import (
    ContractRows,
    ItemOwnershipError,
    contract_count,
    contract_rows,
    contracts_batch_fields,
    rows_of_batch_fields,
)
from services.persister.reference import apply_reference
from services.persister.repository import (
    ApplyResult,
    DbConnection,
    MissingContractsError,
    apply_bids,
    apply_contracts,
    apply_delisted,
    apply_sweep,
    lock_regions,
    write_contract_rows,
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

    def absorb(self, part: Outcome, indexes: Sequence[int]) -> None:
        """Add the outcome of the deliveries ``indexes`` (``part``'s index ``i`` is
        ``indexes[i]`` here)."""
        self.applied.extend(indexes[i] for i in part.applied)
        self.retry.update({indexes[i]: reason for i, reason in part.retry.items()})
        self.rejected.extend(Rejected(indexes[r.index], r.reason, r.body) for r in part.rejected)
        self.result += part.result
        self.contracts += part.contracts


@dataclass(frozen=True)
class Prepared:
    """A delivery validated and, for a contracts batch, turned into COPY rows (its message
    is then only parsed into models if the batch has to be applied piece by piece)."""

    index: int
    message: Event | None = None
    rows: ContractRows | None = None
    rows_error: ItemOwnershipError | None = None
    contracts: int = 0
    rejected: Rejected | None = None

    @property
    def valid(self) -> bool:
        return self.rejected is None


def _prepare(index: int, delivery: Delivery) -> Prepared:
    try:
        fields = contracts_batch_fields.validate_json(delivery.body)
    except ValidationError:
        pass  # another kind of message, or an invalid one: the full parse tells which
    else:
        count = contract_count(fields)
        try:
            return Prepared(index, rows=rows_of_batch_fields(fields), contracts=count)
        except ItemOwnershipError as error:
            return Prepared(index, rows_error=error, contracts=count)
    try:
        message = parse_message(delivery.body)
    except ValidationError as error:
        reason = f"invalid message: {_summary(error)}"
        return Prepared(index, rejected=Rejected(index, reason, delivery.body))
    if not isinstance(message, ContractsBatch):
        return Prepared(index, message)
    # Only if the mirror of the schema refused what the models accept (a defect: the mirror
    # is built from the models and tested against them).
    log.warning("contracts batch refused by the fast validation", extra={"index": index})
    try:
        rows = contract_rows([message])
    except ItemOwnershipError as error:
        return Prepared(index, message, rows_error=error, contracts=len(message.contracts))
    return Prepared(index, message, rows=rows, contracts=len(message.contracts))


def _prepare_in_order(deliveries: Sequence[Delivery]) -> list[asyncio.Task[Prepared]]:
    """Prepare the deliveries one after the other in a worker thread, ahead of the SQL.

    Parsing holds a CPU for a while: in a thread the event loop keeps answering NATS, and
    while PostgreSQL merges one message (on the other core) the next one is being parsed.
    """
    tasks: list[asyncio.Task[Prepared]] = []
    for index, delivery in enumerate(deliveries):
        previous = tasks[-1] if tasks else None
        tasks.append(asyncio.create_task(_prepare_after(previous, index, delivery)))
    return tasks


async def _prepare_after(
    previous: asyncio.Task[Prepared] | None, index: int, delivery: Delivery
) -> Prepared:
    if previous is not None:
        await asyncio.wait([previous])  # one at a time, in order; its failure is its own
    return await asyncio.to_thread(_prepare, index, delivery)


async def _apply_after_contracts(
    connection: DbConnection, messages: Sequence[Parsed]
) -> ApplyResult:
    """Bids (they need their contracts), then sweeps and delistings in stream order.

    Sweeps and delistings only touch rows older than their own generation, so applying them
    after newer contracts of the same fetch is equivalent to applying them in stream order.
    """
    result = ApplyResult()
    bids = [m for m in messages if isinstance(m, BidsBatch)]
    if bids:
        result += await apply_bids(connection, bids)
    for message in messages:
        if isinstance(message, ContractsDelisted):
            result += await apply_delisted(connection, message)
        elif isinstance(message, RegionSweep):
            result += await apply_sweep(connection, message)
        elif isinstance(message, ReferenceData):
            result += await apply_reference(connection, message)
    return result


async def _apply_all(connection: DbConnection, messages: Sequence[Parsed]) -> ApplyResult:
    """Contracts first, then the rest (see :func:`_apply_after_contracts`)."""
    result = await apply_contracts(
        connection, [m for m in messages if isinstance(m, ContractsBatch)]
    )
    others = [m for m in messages if not isinstance(m, ContractsBatch)]
    return result + await _apply_after_contracts(connection, others)


async def _apply_prepared(
    connection: DbConnection, preparing: Sequence[asyncio.Task[Prepared]]
) -> ApplyResult:
    """:func:`_apply_all` on messages that are still being prepared: each contracts batch is
    written as soon as it is ready."""
    result = ApplyResult()
    others: list[Parsed] = []
    for task in preparing:
        prepared = await task
        if prepared.rows_error is not None:
            raise prepared.rows_error
        if prepared.rows is not None:
            result += await write_contract_rows(connection, prepared.rows)
        elif prepared.message is not None:
            others.append(prepared.message)
    return result + await _apply_after_contracts(connection, others)


#: Event kinds that mark a whole region's listing: applied after the fetch's other messages.
LISTING_KINDS = frozenset({"sweep", "delisted"})


async def apply_deliveries(
    pool: asyncpg.Pool, deliveries: Sequence[Delivery], *, announce: bool = False
) -> Outcome:
    """Apply every valid delivery; say which to ack, retry or dead-letter.

    The fetch's sweeps and delistings are applied in a transaction of their own, after the
    transaction of its other messages has committed: a sweep rewrites every row its region
    lists (seconds for a Forge-sized region), and the new contracts fetched with it must not
    wait for that to become visible. Applied after newer contracts, a sweep or a delisting
    changes what it would have changed in stream order (:func:`_apply_after_contracts`).

    With ``announce`` (the live persister; a replay has no one to tell), every transaction
    that writes contracts also tells the notifier, at its commit
    (:mod:`common.contract_commits`).

    Connection-level failures (database down) propagate: nothing is acked and everything
    is delivered again later (what was committed is applied again as a no-op).
    """
    listing = [i for i, d in enumerate(deliveries) if _is_listing(d.subject)]
    if not listing or len(listing) == len(deliveries):
        return await _apply_together(pool, deliveries, announce=announce)
    listed = set(listing)
    outcome = Outcome()
    for part in ([i for i in range(len(deliveries)) if i not in listed], listing):
        outcome.absorb(
            await _apply_together(pool, [deliveries[i] for i in part], announce=announce), part
        )
    return outcome


def _is_listing(subject: str) -> bool:
    found = event_region(subject)
    return found is not None and found[0] in LISTING_KINDS


async def _apply_together(
    pool: asyncpg.Pool, deliveries: Sequence[Delivery], *, announce: bool
) -> Outcome:
    """:func:`apply_deliveries` in one transaction (and the isolation of what fails)."""
    outcome = Outcome()
    preparing = _prepare_in_order(deliveries)
    try:
        for task in preparing:
            if (await task).valid:
                break
        else:  # nothing valid: no database needed to dead-letter it all
            outcome.rejected.extend(_rejections(preparing))
            return outcome
        async with pool.acquire() as connection:
            try:
                async with connection.transaction():
                    shared, exclusive = regions_to_lock(deliveries)
                    await lock_regions(connection, shared=shared, exclusive=exclusive)
                    if any(is_reference_subject(d.subject) for d in deliveries):
                        await lock_reference_data(connection, exclusive=True)
                    outcome.result = await _apply_prepared(connection, preparing)
                    await _announce_at_commit(connection, outcome.result, announce)
            except (*DATA_ERRORS, MissingContractsError) as error:
                log.warning("batch failed, isolating its messages", extra={"error": str(error)})
                outcome.result = ApplyResult()
                await asyncio.wait(preparing)
                for task in preparing:
                    prepared = task.result()
                    if prepared.valid:
                        index = prepared.index
                        message = prepared.message or parse_message(deliveries[index].body)
                        await _apply_alone(
                            connection, index, message, deliveries[index], outcome, announce
                        )
            else:
                outcome.applied.extend(
                    task.result().index for task in preparing if task.result().valid
                )
    finally:
        for task in preparing:
            task.cancel()
        await asyncio.gather(*preparing, return_exceptions=True)
    outcome.rejected.extend(_rejections(preparing))
    applied = set(outcome.applied)
    outcome.contracts = sum(t.result().contracts for t in preparing if t.result().index in applied)
    return outcome


async def _announce_at_commit(
    connection: DbConnection, result: ApplyResult, announce: bool
) -> None:
    """In the transaction that wrote ``result``: if it wrote contracts and ``announce``, the
    notifier hears of it when the transaction commits."""
    if announce and result.contracts_written:
        await announce_contracts_committed(connection)


def regions_to_lock(deliveries: Sequence[Delivery]) -> tuple[set[int], set[int]]:
    """(regions of contracts batches, regions of sweeps and delistings), read from the
    subjects so that every lock of a fetch is taken up front, in one order (no deadlock
    between fetches). A message on another subject takes its lock when it is applied."""
    shared: set[int] = set()
    exclusive: set[int] = set()
    for delivery in deliveries:
        found = event_region(delivery.subject)
        if found is None:
            continue
        kind, region_id = found
        if kind == "contracts":
            shared.add(region_id)
        elif kind in {"sweep", "delisted"}:
            exclusive.add(region_id)
    return shared, exclusive


def _rejections(preparing: Sequence[asyncio.Task[Prepared]]) -> list[Rejected]:
    return [r for task in preparing if (r := task.result().rejected) is not None]


async def _apply_alone(
    connection: DbConnection,
    index: int,
    message: Parsed,
    delivery: Delivery,
    outcome: Outcome,
    announce: bool,
) -> None:
    try:
        async with connection.transaction():
            result = await _apply_all(connection, [message])
            await _announce_at_commit(connection, result, announce)
        outcome.result += result
    except MissingContractsError as error:
        outcome.retry[index] = str(error)
    except DATA_ERRORS as error:
        if isinstance(message, ContractsBatch) and len(message.contracts) > 1:
            await _apply_contract_by_contract(connection, index, message, outcome, announce)
        else:
            reason = f"cannot be applied: {type(error).__name__}: {error}"
            outcome.rejected.append(Rejected(index, reason, delivery.body))
    else:
        outcome.applied.append(index)


async def _apply_contract_by_contract(
    connection: DbConnection, index: int, batch: ContractsBatch, outcome: Outcome, announce: bool
) -> None:
    """Each contract with its items in its own transaction; the failing ones are rejected."""
    for contract in batch.contracts:
        single = batch.model_copy(update={"contracts": [contract]})
        try:
            async with connection.transaction():
                result = await apply_contracts(connection, [single])
                await _announce_at_commit(connection, result, announce)
            outcome.result += result
        except DATA_ERRORS as error:
            reason = (
                f"contract {contract.contract_id} cannot be applied: "
                f"{type(error).__name__}: {error}"
            )
            outcome.rejected.append(Rejected(index, reason, single.to_json()))
    # the message is settled: its valid contracts are committed, the others dead-lettered
    outcome.applied.append(index)


def _summary(error: ValidationError) -> str:
    first = error.errors()[0]
    location = ".".join(str(part) for part in first["loc"])
    return f"{error.error_count()} error(s); first at {location or '<root>'}: {first['msg']}"
