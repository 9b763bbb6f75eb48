"""The query service: every SQL statement of the read side, as SQLAlchemy Core expressions.

User input only ever reaches PostgreSQL as bound parameters. Functions take the caller's
connection and never commit (the API only reads; its transactions are read-only anyway).
Statements use the tables' Core columns, so no ORM machinery runs per request.

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
    CompoundSelect,
    Select,
    exists,
    func,
    literal,
    select,
    tuple_,
    union_all,
)
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.ext.compiler import compiles
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

contracts: Final = Contract.__table__
items: Final = ContractItem.__table__
bids: Final = ContractBid.__table__
sweeps: Final = RegionSweepState.__table__

SUMMARY_COLUMNS: Final = (
    contracts.c.contract_id,
    contracts.c.region_id,
    contracts.c.type,
    contracts.c.status,
    contracts.c.issuer_id,
    contracts.c.issuer_corporation_id,
    contracts.c.for_corporation,
    contracts.c.date_issued,
    contracts.c.date_expired,
    contracts.c.days_to_complete,
    contracts.c.price,
    contracts.c.reward,
    contracts.c.collateral,
    contracts.c.buyout,
    contracts.c.volume,
    contracts.c.start_location_id,
    contracts.c.end_location_id,
    contracts.c.title,
    contracts.c.first_seen_at,
    contracts.c.last_seen_at,
    contracts.c.gone_at,
)
ITEM_COLUMNS: Final = (
    items.c.record_id,
    items.c.type_id,
    items.c.quantity,
    items.c.is_included,
    items.c.item_id,
    items.c.is_blueprint_copy,
    items.c.material_efficiency,
    items.c.time_efficiency,
    items.c.runs,
)
BID_COLUMNS: Final = (bids.c.bid_id, bids.c.amount, bids.c.date_bid)

SORT_COLUMNS: Final[Mapping[str, ColumnElement[Any]]] = {
    "price": contracts.c.price,
    "date_issued": contracts.c.date_issued,
    "date_expired": contracts.c.date_expired,
    "volume": contracts.c.volume,
    "reward": contracts.c.reward,
}
NULLABLE_SORTS: Final = frozenset({"price", "volume", "reward"})

Row = RowMapping
AnySelect = Select[*tuple[Any, ...]]
Statement = Select[*tuple[Any, ...]] | CompoundSelect[*tuple[Any, ...]]
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
        conditions.append(contracts.c.status == query.status)
    if len(query.region_id) == 1:
        conditions.append(contracts.c.region_id == query.region_id[0])
    elif query.region_id:
        conditions.append(contracts.c.region_id.in_(query.region_id))
    if len(query.type) == 1:
        conditions.append(contracts.c.type == query.type[0])
    elif query.type:
        conditions.append(contracts.c.type.in_(query.type))
    ranges: Sequence[tuple[ColumnElement[Any], object, object]] = (
        (contracts.c.price, query.min_price, query.max_price),
        (contracts.c.reward, query.min_reward, query.max_reward),
        (contracts.c.collateral, query.min_collateral, query.max_collateral),
        (contracts.c.volume, query.min_volume, query.max_volume),
    )
    for column, low, high in ranges:
        if low is not None:
            conditions.append(column >= low)
        if high is not None:
            conditions.append(column <= high)
    half_open: Sequence[tuple[ColumnElement[Any], datetime | None, datetime | None]] = (
        (contracts.c.date_issued, query.issued_after, query.issued_before),
        (contracts.c.date_expired, query.expires_after, query.expires_before),
    )
    for column, after, before in half_open:
        if after is not None:
            conditions.append(column >= after)
        if before is not None:
            conditions.append(column < before)
    equalities: Sequence[tuple[ColumnElement[Any], int | None]] = (
        (contracts.c.start_location_id, query.start_location_id),
        (contracts.c.end_location_id, query.end_location_id),
        (contracts.c.issuer_id, query.issuer_id),
        (contracts.c.issuer_corporation_id, query.issuer_corporation_id),
    )
    for column, wanted in equalities:
        if wanted is not None:
            conditions.append(column == wanted)
    if query.contains_type_id:
        item_conditions: list[ColumnElement[bool]] = [
            items.c.contract_id == contracts.c.contract_id,
            items.c.type_id.in_(query.contains_type_id),
        ]
        if not query.include_requested:
            item_conditions.append(items.c.is_included.is_(True))
        conditions.append(exists(select(items.c.record_id).where(*item_conditions)))
    if query.title is not None:
        conditions.append(contracts.c.title.icontains(query.title, autoescape=True))
    return conditions


# --- the list query ----------------------------------------------------------------------


def _statuses(query: ContractListQuery) -> list[str]:
    if query.status == "all":
        return [STATUS_OUTSTANDING, STATUS_GONE]
    return [query.status]


def list_statement(query: ContractListQuery, after: Keyset | None, limit: int) -> Statement:
    """One page of contracts after ``after`` (``limit`` rows at most), in the asked order."""
    column = SORT_COLUMNS[query.sort]
    descending = query.order == "desc"
    nullable = query.sort in NULLABLE_SORTS
    order_by = (
        (column.desc(), contracts.c.contract_id.desc())
        if descending
        else (column.asc(), contracts.c.contract_id.asc())
    )
    shared = filter_conditions(query, with_status=False)
    segments: list[AnySelect] = []
    for status in _statuses(query):
        by_status = [contracts.c.status == status, *shared]
        if after is None or after.value is not None:
            conditions = list(by_status)
            if nullable:
                conditions.append(column.is_not(None))
            if after is not None:
                key = tuple_(column, contracts.c.contract_id)
                bound = tuple_(
                    literal(after.value, column.type),
                    literal(after.contract_id, contracts.c.contract_id.type),
                )
                conditions.append(key < bound if descending else key > bound)
            segments.append(select(*SUMMARY_COLUMNS).where(*conditions))
        if nullable:
            conditions = [*by_status, column.is_(None)]
            if after is not None and after.value is None:
                conditions.append(
                    contracts.c.contract_id < after.contract_id
                    if descending
                    else contracts.c.contract_id > after.contract_id
                )
            # Ordering the NULL rows by (column, contract_id) rather than contract_id alone
            # is the same order and matches the index, so no sort is needed.
            segments.append(select(*SUMMARY_COLUMNS).where(*conditions))
    ordered = [segment.order_by(*order_by).limit(limit) for segment in segments]
    if len(ordered) == 1:
        return ordered[0]
    merged = union_all(*ordered)
    # ORDER BY the union's output columns (no subquery: cheaper to build, same plan).
    merged_column = merged.selected_columns[query.sort]
    merged_id = merged.selected_columns.contract_id
    outer_order = (
        (merged_column.desc().nulls_last(), merged_id.desc())
        if descending
        else (merged_column.asc().nulls_last(), merged_id.asc())
    )
    return merged.order_by(*outer_order).limit(limit)


async def list_contracts(
    connection: AsyncConnection, query: ContractListQuery, after: Keyset | None, limit: int
) -> list[Row]:
    result = await connection.execute(list_statement(query, after, limit))
    return list(result.mappings().all())


# --- counting ----------------------------------------------------------------------------


class Explain(Executable, ClauseElement):
    """``EXPLAIN (FORMAT JSON) <statement>`` with the statement's parameters still bound."""

    inherit_cache = False

    def __init__(self, statement: Statement) -> None:
        self.statement = statement


@compiles(Explain, "postgresql")
def _compile_explain(element: Explain, compiler: SQLCompiler, **kw: Any) -> str:
    return "EXPLAIN (FORMAT JSON) " + compiler.process(element.statement, **kw)


async def explain(connection: AsyncConnection, statement: Statement) -> dict[str, Any]:
    """The planner's plan of ``statement`` (the top object of EXPLAIN's JSON)."""
    document = (await connection.execute(Explain(statement))).scalar_one()
    plans = json.loads(document) if isinstance(document, str) else document
    plan: dict[str, Any] = plans[0]
    return plan


def capped_count_statement(query: ContractListQuery, exact_threshold: int) -> AnySelect:
    """Counts the matching rows, but stops after ``exact_threshold + 1`` of them."""
    capped = (
        select(literal(1).label("one"))
        .select_from(contracts)
        .where(*filter_conditions(query, with_status=True))
        .limit(exact_threshold + 1)
        .subquery("capped")
    )
    return select(func.count()).select_from(capped)


def estimate_statement(query: ContractListQuery) -> AnySelect:
    """The statement whose EXPLAIN row estimate stands in for a large count."""
    return select(contracts.c.contract_id).where(*filter_conditions(query, with_status=True))


async def count_contracts(
    connection: AsyncConnection, query: ContractListQuery, exact_threshold: int
) -> tuple[int, bool]:
    """``(total, exact)``: counted up to ``exact_threshold`` rows, estimated above it."""
    counted = (
        await connection.execute(capped_count_statement(query, exact_threshold))
    ).scalar_one()
    if counted <= exact_threshold:
        return counted, True
    plan = await explain(connection, estimate_statement(query))
    estimate = int(plan["Plan"]["Plan Rows"])
    return max(estimate, exact_threshold + 1), False


# --- single contracts, regions, stats, health ---------------------------------------------


@dataclass(frozen=True, slots=True)
class ContractWithParts:
    contract: Row
    items: list[Row]
    bids: list[Row]


async def get_contract(connection: AsyncConnection, contract_id: int) -> ContractWithParts | None:
    found = await connection.execute(
        select(*SUMMARY_COLUMNS).where(contracts.c.contract_id == contract_id)
    )
    contract = found.mappings().first()
    if contract is None:
        return None
    item_rows = await connection.execute(
        select(*ITEM_COLUMNS).where(items.c.contract_id == contract_id).order_by(items.c.record_id)
    )
    bid_rows = await connection.execute(
        select(*BID_COLUMNS)
        .where(bids.c.contract_id == contract_id)
        .order_by(bids.c.amount.desc(), bids.c.bid_id)
    )
    return ContractWithParts(
        contract, list(item_rows.mappings().all()), list(bid_rows.mappings().all())
    )


async def region_freshness(connection: AsyncConnection) -> list[Row]:
    """Every region with a sweep or a contract: its newest sweep and outstanding count."""
    outstanding = (
        select(contracts.c.region_id, func.count().label("outstanding_contracts"))
        .where(contracts.c.status == STATUS_OUTSTANDING)
        .group_by(contracts.c.region_id)
        .subquery("outstanding")
    )
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
    return list((await connection.execute(statement)).mappings().all())


@dataclass(frozen=True, slots=True)
class StatsRows:
    by_status: dict[str, int]
    by_region: dict[int, dict[str, int]]
    by_type: dict[str, dict[str, int]]


async def contract_stats(connection: AsyncConnection) -> StatsRows:
    """Counts by status, by region and status, by type and status: one scan."""
    statement = select(
        contracts.c.status, contracts.c.region_id, contracts.c.type, func.count().label("contracts")
    ).group_by(
        func.grouping_sets(
            tuple_(contracts.c.status),
            tuple_(contracts.c.status, contracts.c.region_id),
            tuple_(contracts.c.status, contracts.c.type),
        )
    )
    stats = StatsRows({}, {}, {})
    for status, region_id, contract_type, count in (await connection.execute(statement)).all():
        if region_id is not None:
            stats.by_region.setdefault(region_id, {})[status] = count
        elif contract_type is not None:
            stats.by_type.setdefault(contract_type, {})[status] = count
        else:
            stats.by_status[status] = count
    return stats


async def ping(connection: AsyncConnection) -> None:
    await connection.execute(select(literal(1)))
