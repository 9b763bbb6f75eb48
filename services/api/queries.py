"""The query service: every SQL statement of the read side, as SQLAlchemy Core expressions.

User input only ever reaches PostgreSQL as bound parameters. Functions take the caller's
session and never commit (the API only reads; its sessions are read-only anyway).

Keyset pagination. Rows are ordered by ``(sort column, contract_id)`` in the asked direction,
rows without a sort value (NULL price, reward or volume) last in both directions. To let every
part of that order come straight off a btree index ``(status, column, contract_id)`` the list
query is a ``UNION ALL`` of *segments*, one per status asked for and, for a nullable column, one
for the rows with a value and one for the rows without; each segment is an ordered, LIMITed
index scan and the union is merged by a sort of at most ``4 * (limit + 1)`` rows. A cursor that
points into the NULL rows skips the segments of rows with a value.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from sqlalchemy import (
    ColumnElement,
    Select,
    exists,
    func,
    literal,
    select,
    tuple_,
    union_all,
)
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement

from common.db import (
    STATUS_GONE,
    STATUS_OUTSTANDING,
    Contract,
    ContractBid,
    ContractItem,
    RegionSweepState,
)
from services.api.schemas import ContractListQuery, SortKey

SUMMARY_COLUMNS: Final = (
    Contract.contract_id,
    Contract.region_id,
    Contract.type,
    Contract.status,
    Contract.issuer_id,
    Contract.issuer_corporation_id,
    Contract.for_corporation,
    Contract.date_issued,
    Contract.date_expired,
    Contract.days_to_complete,
    Contract.price,
    Contract.reward,
    Contract.collateral,
    Contract.buyout,
    Contract.volume,
    Contract.start_location_id,
    Contract.end_location_id,
    Contract.title,
    Contract.first_seen_at,
    Contract.last_seen_at,
    Contract.gone_at,
)
ITEM_COLUMNS: Final = (
    ContractItem.record_id,
    ContractItem.type_id,
    ContractItem.quantity,
    ContractItem.is_included,
    ContractItem.item_id,
    ContractItem.is_blueprint_copy,
    ContractItem.material_efficiency,
    ContractItem.time_efficiency,
    ContractItem.runs,
)
BID_COLUMNS: Final = (ContractBid.bid_id, ContractBid.amount, ContractBid.date_bid)

SORT_COLUMNS: Final[Mapping[str, InstrumentedAttribute[Any]]] = {
    "price": Contract.price,
    "date_issued": Contract.date_issued,
    "date_expired": Contract.date_expired,
    "volume": Contract.volume,
    "reward": Contract.reward,
}
NULLABLE_SORTS: Final = frozenset({"price", "volume", "reward"})

Row = RowMapping
AnySelect = Select[*tuple[Any, ...]]
SortValue = Decimal | float | datetime


class InvalidSortValueError(ValueError):
    """A cursor's sort value does not parse for its sort key."""


# --- sort values as cursor strings -------------------------------------------------------


def sort_value_to_text(sort: SortKey, value: SortValue | None) -> str | None:
    """The exact text form of a row's sort value, for a cursor."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float):
        return repr(value)  # the shortest string that reads back as the same float
    return str(value)


def sort_value_from_text(sort: SortKey, value: str | None) -> SortValue | None:
    if value is None:
        if sort not in NULLABLE_SORTS:
            raise InvalidSortValueError(f"{sort} is never null")
        return None
    try:
        if sort in ("date_issued", "date_expired"):
            parsed = datetime.fromisoformat(value)
            if parsed.tzinfo is None:
                raise InvalidSortValueError("cursor timestamp without a time zone")
            return parsed
        if sort == "volume":
            number = float(value)
            if not math.isfinite(number):
                raise InvalidSortValueError("cursor volume is not finite")
            return number
        amount = Decimal(value)
    except (ValueError, InvalidOperation) as error:
        raise InvalidSortValueError(f"bad {sort} value in cursor") from error
    if not amount.is_finite():
        raise InvalidSortValueError(f"cursor {sort} is not finite")
    return amount


@dataclass(frozen=True, slots=True)
class Keyset:
    """The position after which the next page starts."""

    value: SortValue | None
    contract_id: int


# --- filters -----------------------------------------------------------------------------


def filter_conditions(query: ContractListQuery, *, with_status: bool) -> list[ColumnElement[bool]]:
    """The WHERE conditions of the filters (``status`` only when ``with_status``)."""
    conditions: list[ColumnElement[bool]] = []
    if with_status and query.status != "all":
        conditions.append(Contract.status == query.status)
    if len(query.region_id) == 1:
        conditions.append(Contract.region_id == query.region_id[0])
    elif query.region_id:
        conditions.append(Contract.region_id.in_(query.region_id))
    if len(query.type) == 1:
        conditions.append(Contract.type == query.type[0])
    elif query.type:
        conditions.append(Contract.type.in_(query.type))
    ranges: Sequence[tuple[InstrumentedAttribute[Any], object, object]] = (
        (Contract.price, query.min_price, query.max_price),
        (Contract.reward, query.min_reward, query.max_reward),
        (Contract.collateral, query.min_collateral, query.max_collateral),
        (Contract.volume, query.min_volume, query.max_volume),
    )
    for column, low, high in ranges:
        if low is not None:
            conditions.append(column >= low)
        if high is not None:
            conditions.append(column <= high)
    half_open: Sequence[tuple[InstrumentedAttribute[Any], datetime | None, datetime | None]] = (
        (Contract.date_issued, query.issued_after, query.issued_before),
        (Contract.date_expired, query.expires_after, query.expires_before),
    )
    for column, after, before in half_open:
        if after is not None:
            conditions.append(column >= after)
        if before is not None:
            conditions.append(column < before)
    equalities: Sequence[tuple[InstrumentedAttribute[Any], int | None]] = (
        (Contract.start_location_id, query.start_location_id),
        (Contract.end_location_id, query.end_location_id),
        (Contract.issuer_id, query.issuer_id),
        (Contract.issuer_corporation_id, query.issuer_corporation_id),
    )
    for column, wanted in equalities:
        if wanted is not None:
            conditions.append(column == wanted)
    if query.contains_type_id:
        item_conditions: list[ColumnElement[bool]] = [
            ContractItem.contract_id == Contract.contract_id,
            ContractItem.type_id.in_(query.contains_type_id),
        ]
        if not query.include_requested:
            item_conditions.append(ContractItem.is_included.is_(True))
        conditions.append(exists(select(ContractItem.record_id).where(*item_conditions)))
    if query.title is not None:
        conditions.append(Contract.title.icontains(query.title, autoescape=True))
    return conditions


# --- the list query ----------------------------------------------------------------------


def _statuses(query: ContractListQuery) -> list[str]:
    if query.status == "all":
        return [STATUS_OUTSTANDING, STATUS_GONE]
    return [query.status]


def list_statement(query: ContractListQuery, after: Keyset | None, limit: int) -> AnySelect:
    """One page of contracts after ``after`` (``limit`` rows at most), in the asked order."""
    column = SORT_COLUMNS[query.sort]
    descending = query.order == "desc"
    nullable = query.sort in NULLABLE_SORTS
    order_by = (
        (column.desc(), Contract.contract_id.desc())
        if descending
        else (column.asc(), Contract.contract_id.asc())
    )
    shared = filter_conditions(query, with_status=False)
    segments: list[AnySelect] = []
    for status in _statuses(query):
        by_status = [Contract.status == status, *shared]
        if after is None or after.value is not None:
            conditions = list(by_status)
            if nullable:
                conditions.append(column.is_not(None))
            if after is not None:
                key = tuple_(column, Contract.contract_id)
                bound = tuple_(
                    literal(after.value, column.type),
                    literal(after.contract_id, Contract.contract_id.type),
                )
                conditions.append(key < bound if descending else key > bound)
            segments.append(select(*SUMMARY_COLUMNS).where(*conditions))
        if nullable:
            conditions = [*by_status, column.is_(None)]
            if after is not None and after.value is None:
                conditions.append(
                    Contract.contract_id < after.contract_id
                    if descending
                    else Contract.contract_id > after.contract_id
                )
            # Ordering the NULL rows by (column, contract_id) rather than contract_id alone
            # is the same order and matches the index, so no sort is needed.
            segments.append(select(*SUMMARY_COLUMNS).where(*conditions))
    ordered = [segment.order_by(*order_by).limit(limit) for segment in segments]
    if len(ordered) == 1:
        return ordered[0]
    merged = union_all(*ordered).subquery("page")
    merged_column, merged_id = merged.c[column.key], merged.c.contract_id
    outer_order = (
        (merged_column.desc().nulls_last(), merged_id.desc())
        if descending
        else (merged_column.asc().nulls_last(), merged_id.asc())
    )
    return select(merged).order_by(*outer_order).limit(limit)


async def list_contracts(
    session: AsyncSession, query: ContractListQuery, after: Keyset | None, limit: int
) -> list[Row]:
    result = await session.execute(list_statement(query, after, limit))
    return list(result.mappings().all())


# --- counting ----------------------------------------------------------------------------


class Explain(Executable, ClauseElement):
    """``EXPLAIN (FORMAT JSON) <statement>`` with the statement's parameters still bound."""

    inherit_cache = False

    def __init__(self, statement: AnySelect) -> None:
        self.statement = statement


@compiles(Explain, "postgresql")
def _compile_explain(element: Explain, compiler: SQLCompiler, **kw: Any) -> str:
    return "EXPLAIN (FORMAT JSON) " + compiler.process(element.statement, **kw)


async def explain(session: AsyncSession, statement: AnySelect) -> dict[str, Any]:
    """The planner's plan of ``statement`` (the top object of EXPLAIN's JSON)."""
    connection = await session.connection()
    document = (await connection.execute(Explain(statement))).scalar_one()
    plans = json.loads(document) if isinstance(document, str) else document
    plan: dict[str, Any] = plans[0]
    return plan


def capped_count_statement(query: ContractListQuery, exact_threshold: int) -> AnySelect:
    """Counts the matching rows, but stops after ``exact_threshold + 1`` of them."""
    capped = (
        select(literal(1).label("one"))
        .select_from(Contract)
        .where(*filter_conditions(query, with_status=True))
        .limit(exact_threshold + 1)
        .subquery("capped")
    )
    return select(func.count()).select_from(capped)


def estimate_statement(query: ContractListQuery) -> AnySelect:
    """The statement whose EXPLAIN row estimate stands in for a large count."""
    return select(Contract.contract_id).where(*filter_conditions(query, with_status=True))


async def count_contracts(
    session: AsyncSession, query: ContractListQuery, exact_threshold: int
) -> tuple[int, bool]:
    """``(total, exact)``: counted up to ``exact_threshold`` rows, estimated above it."""
    counted = (await session.execute(capped_count_statement(query, exact_threshold))).scalar_one()
    if counted <= exact_threshold:
        return counted, True
    plan = await explain(session, estimate_statement(query))
    estimate = int(plan["Plan"]["Plan Rows"])
    return max(estimate, exact_threshold + 1), False


# --- single contracts, regions, stats, health ---------------------------------------------


@dataclass(frozen=True, slots=True)
class ContractWithParts:
    contract: Row
    items: list[Row]
    bids: list[Row]


async def get_contract(session: AsyncSession, contract_id: int) -> ContractWithParts | None:
    found = await session.execute(
        select(*SUMMARY_COLUMNS).where(Contract.contract_id == contract_id)
    )
    contract = found.mappings().first()
    if contract is None:
        return None
    items = await session.execute(
        select(*ITEM_COLUMNS)
        .where(ContractItem.contract_id == contract_id)
        .order_by(ContractItem.record_id)
    )
    bids = await session.execute(
        select(*BID_COLUMNS)
        .where(ContractBid.contract_id == contract_id)
        .order_by(ContractBid.amount.desc(), ContractBid.bid_id)
    )
    return ContractWithParts(contract, list(items.mappings().all()), list(bids.mappings().all()))


async def region_freshness(session: AsyncSession) -> list[Row]:
    """Every region with a sweep or a contract: its newest sweep and outstanding count."""
    outstanding = (
        select(Contract.region_id, func.count().label("outstanding_contracts"))
        .where(Contract.status == STATUS_OUTSTANDING)
        .group_by(Contract.region_id)
        .subquery("outstanding")
    )
    sweeps = RegionSweepState.__table__
    region_id = func.coalesce(sweeps.c.region_id, outstanding.c.region_id).label("region_id")
    statement = (
        select(
            region_id,
            sweeps.c.swept_at.label("last_sweep_at"),
            sweeps.c.generation,
            sweeps.c.contract_count.label("swept_contracts"),
            func.coalesce(outstanding.c.outstanding_contracts, 0).label("outstanding_contracts"),
        )
        .select_from(
            sweeps.join(outstanding, sweeps.c.region_id == outstanding.c.region_id, full=True)
        )
        .order_by(region_id)
    )
    return list((await session.execute(statement)).mappings().all())


@dataclass(frozen=True, slots=True)
class StatsRows:
    by_status: dict[str, int]
    by_region: dict[int, dict[str, int]]
    by_type: dict[str, dict[str, int]]


async def contract_stats(session: AsyncSession) -> StatsRows:
    """Counts by status, by region and status, by type and status: one scan."""
    statement = select(
        Contract.status, Contract.region_id, Contract.type, func.count().label("contracts")
    ).group_by(
        func.grouping_sets(
            tuple_(Contract.status),
            tuple_(Contract.status, Contract.region_id),
            tuple_(Contract.status, Contract.type),
        )
    )
    stats = StatsRows({}, {}, {})
    for status, region_id, contract_type, contracts in (await session.execute(statement)).all():
        if region_id is not None:
            stats.by_region.setdefault(region_id, {})[status] = contracts
        elif contract_type is not None:
            stats.by_type.setdefault(contract_type, {})[status] = contracts
        else:
            stats.by_status[status] = contracts
    return stats


async def ping(session: AsyncSession) -> None:
    await session.execute(select(literal(1)))
