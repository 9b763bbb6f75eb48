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

Compiled once per shape. The list, count and estimate statements bind every value as a named
parameter (``filter_params`` and friends), so their SQL text depends only on the query's shape:
``list_query`` & co compile a shape once (``STATEMENTS``) and run it straight through asyncpg
(``fetch``); ``list_statement`` & co still give the Core statement (EXPLAIN tests, benchmark).
"""

from __future__ import annotations

import json
import math
import operator
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, InvalidOperation
from typing import Any, Final

import asyncpg
from sqlalchemy import (
    ARRAY,
    BigInteger,
    BindParameter,
    ColumnElement,
    CompoundSelect,
    Integer,
    Numeric,
    Select,
    Text,
    any_,
    bindparam,
    exists,
    func,
    literal,
    literal_column,
    select,
    tuple_,
    union_all,
)
from sqlalchemy.dialects.postgresql import asyncpg as postgresql_asyncpg
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement
from sqlalchemy.sql.type_api import TypeEngine

from common.db import (
    STATUS_GONE,
    STATUS_OUTSTANDING,
    Contract,
    ContractBid,
    ContractItem,
    RegionSweepState,
)
from services.api.name_filters import (
    CONTENT_COLUMNS,
    content_filter_conditions,
    content_filter_params,
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
    *CONTENT_COLUMNS,
)
SUMMARY_NAMES: Final = tuple(column.name for column in SUMMARY_COLUMNS)
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
    "reward_per_m3": contracts.c.reward_per_m3,
}
NULLABLE_SORTS: Final = frozenset({"price", "volume", "reward", "reward_per_m3"})

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
        if sort in ("volume", "reward_per_m3"):
            number = float(value)
            if not math.isfinite(number):
                raise InvalidSortValueError(f"cursor {sort} is not finite")
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


# --- filters as named parameters ---------------------------------------------------------

Params = dict[str, Any]
"""Bound values of one statement by parameter name. Which names are present (with the sort,
order, status and include_requested) decides the SQL text; only the values vary otherwise."""

CENT: Final = Decimal("0.01")
LIKE_ESCAPE: Final = "/"
_BIGINT: Final = BigInteger()
_BIGINTS: Final = ARRAY(BigInteger())
_TEXT: Final = Text()
_TEXTS: Final = ARRAY(Text())
_INTEGER: Final = Integer()
# Unconstrained numeric: a bound cast to the column's numeric(20, 2) would be rounded (half up)
# and could overflow; bounds are made whole cents the right way instead (see cents_at_least).
_AMOUNT: Final = Numeric()


def cents_at_least(amount: Decimal) -> Decimal:
    """The smallest whole-cent amount >= ``amount``: for a column of whole cents,
    ``money >= amount`` exactly, with a bound of bounded length whatever the input's
    precision or exponent (``1e-100000`` would not fit a PostgreSQL numeric)."""
    return amount.quantize(CENT, rounding=ROUND_CEILING)


def cents_at_most(amount: Decimal) -> Decimal:
    """The largest whole-cent amount <= ``amount`` (see :func:`cents_at_least`)."""
    return amount.quantize(CENT, rounding=ROUND_FLOOR)


def like_escaped(text: str) -> str:
    """``text`` with LIKE's wildcards (and the escape character) matching themselves."""
    return (
        text.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2)
        .replace("%", LIKE_ESCAPE + "%")
        .replace("_", LIKE_ESCAPE + "_")
    )


def filter_params(query: ContractListQuery) -> Params:
    """The filters' bound values (not ``status``, which is written into the SQL)."""
    params: Params = {}
    if len(query.region_id) == 1:
        params["region_id"] = query.region_id[0]
    elif query.region_id:
        params["region_ids"] = query.region_id
    if len(query.type) == 1:
        params["type"] = query.type[0]
    elif query.type:
        params["types"] = query.type
    for name, low, high in (
        ("price", query.min_price, query.max_price),
        ("reward", query.min_reward, query.max_reward),
        ("collateral", query.min_collateral, query.max_collateral),
    ):
        if low is not None:
            params[f"min_{name}"] = cents_at_least(low)
        if high is not None:
            params[f"max_{name}"] = cents_at_most(high)
    optional: tuple[tuple[str, object], ...] = (
        ("min_volume", query.min_volume),
        ("max_volume", query.max_volume),
        ("issued_after", query.issued_after),
        ("issued_before", query.issued_before),
        ("expires_after", query.expires_after),
        ("expires_before", query.expires_before),
        ("start_location_id", query.start_location_id),
        ("end_location_id", query.end_location_id),
        ("issuer_id", query.issuer_id),
        ("issuer_corporation_id", query.issuer_corporation_id),
    )
    for name, value in optional:
        if value is not None:
            params[name] = value
    if query.contains_type_id:
        params["contains_type_ids"] = query.contains_type_id
    if query.title is not None:
        params["title"] = like_escaped(query.title)
    params.update(content_filter_params(query))
    return params


Comparison = Callable[[ColumnElement[Any], Any], ColumnElement[bool]]


def _status_is(status: str) -> ColumnElement[bool]:
    # Written into the SQL text (each statement is cached per status): the planner sees it even
    # in a generic plan.
    return contracts.c.status == literal(status, literal_execute=True)


def filter_conditions(
    query: ContractListQuery, params: Params, *, with_status: bool
) -> list[ColumnElement[bool]]:
    """The WHERE conditions of the filters in ``params`` (``status`` only when
    ``with_status``): each a comparison with the bound parameter of the same name."""

    def bound(name: str, type_: TypeEngine[Any]) -> BindParameter[Any]:
        return bindparam(name, params[name], type_=type_)

    c = contracts.c
    conditions: list[ColumnElement[bool]] = []
    if with_status and query.status != "all":
        conditions.append(_status_is(query.status))
    if "region_id" in params:
        conditions.append(c.region_id == bound("region_id", _BIGINT))
    if "region_ids" in params:
        conditions.append(c.region_id == any_(bound("region_ids", _BIGINTS)))
    if "type" in params:
        conditions.append(c.type == bound("type", _TEXT))
    if "types" in params:
        conditions.append(c.type == any_(bound("types", _TEXTS)))
    comparisons: tuple[tuple[str, ColumnElement[Any], Comparison, TypeEngine[Any]], ...] = (
        ("min_price", c.price, operator.ge, _AMOUNT),
        ("max_price", c.price, operator.le, _AMOUNT),
        ("min_reward", c.reward, operator.ge, _AMOUNT),
        ("max_reward", c.reward, operator.le, _AMOUNT),
        ("min_collateral", c.collateral, operator.ge, _AMOUNT),
        ("max_collateral", c.collateral, operator.le, _AMOUNT),
        ("min_volume", c.volume, operator.ge, c.volume.type),
        ("max_volume", c.volume, operator.le, c.volume.type),
        ("issued_after", c.date_issued, operator.ge, c.date_issued.type),
        ("issued_before", c.date_issued, operator.lt, c.date_issued.type),
        ("expires_after", c.date_expired, operator.ge, c.date_expired.type),
        ("expires_before", c.date_expired, operator.lt, c.date_expired.type),
        ("start_location_id", c.start_location_id, operator.eq, _BIGINT),
        ("end_location_id", c.end_location_id, operator.eq, _BIGINT),
        ("issuer_id", c.issuer_id, operator.eq, _BIGINT),
        ("issuer_corporation_id", c.issuer_corporation_id, operator.eq, _BIGINT),
    )
    for name, column, compare, type_ in comparisons:
        if name in params:
            conditions.append(compare(column, bound(name, type_)))
    if "contains_type_ids" in params:
        item_conditions: list[ColumnElement[bool]] = [
            items.c.contract_id == c.contract_id,
            items.c.type_id == any_(bound("contains_type_ids", _BIGINTS)),
        ]
        if not query.include_requested:
            item_conditions.append(items.c.is_included.is_(True))
        conditions.append(exists(select(items.c.record_id).where(*item_conditions)))
    if "title" in params:
        conditions.append(c.title.icontains(bound("title", _TEXT), escape=LIKE_ESCAPE))
    conditions.extend(content_filter_conditions(params))
    return conditions


# --- compiled statements -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CompiledStatement:
    """A statement as asyncpg runs it: SQL with ``$n`` placeholders and their names in order."""

    sql: str
    names: tuple[str, ...]

    def arguments(self, params: Params) -> list[Any]:
        return [params[name] for name in self.names]


def compile_statement(statement: ClauseElement) -> CompiledStatement:
    compiled = statement.compile(dialect=_DIALECT, compile_kwargs={"render_postcompile": True})
    assert isinstance(compiled, SQLCompiler)
    return CompiledStatement(str(compiled), tuple(compiled.positiontup or ()))


class StatementCache:
    """Compiled statements by shape (everything that changes the SQL text), least recently
    used ones dropped first: a request whose shape was seen before builds no SQLAlchemy
    expression and compiles nothing, it only computes its parameters."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: OrderedDict[Hashable, CompiledStatement] = OrderedDict()

    def get(self, key: Hashable, build: Callable[[], ClauseElement]) -> CompiledStatement:
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
            return found
        compiled = compile_statement(build())
        self._entries[key] = compiled
        if len(self._entries) > self._size:
            self._entries.popitem(last=False)
        return compiled

    def __len__(self) -> int:
        return len(self._entries)


_DIALECT: Final = postgresql_asyncpg.dialect()  # type: ignore[no-untyped-call]
STATEMENTS: Final = StatementCache(1024)


async def fetch(
    connection: asyncpg.Connection, statement: CompiledStatement, params: Params
) -> list[asyncpg.Record]:
    return await connection.fetch(statement.sql, *statement.arguments(params))


# --- the list query ----------------------------------------------------------------------


def _statuses(query: ContractListQuery) -> list[str]:
    if query.status == "all":
        return [STATUS_OUTSTANDING, STATUS_GONE]
    return [query.status]


def list_params(query: ContractListQuery, after: Keyset | None, limit: int) -> Params:
    params = filter_params(query)
    if after is not None:
        if after.value is not None:
            params["after_value"] = after.value
        params["after_id"] = after.contract_id
    params["limit"] = limit
    return params


def list_statement(query: ContractListQuery, after: Keyset | None, limit: int) -> Statement:
    """One page of contracts after ``after`` (``limit`` rows at most), in the asked order."""
    return _list_statement(query, list_params(query, after, limit))


def _list_statement(query: ContractListQuery, params: Params) -> Statement:
    column = SORT_COLUMNS[query.sort]
    descending = query.order == "desc"
    nullable = query.sort in NULLABLE_SORTS
    order_by = (
        (column.desc(), contracts.c.contract_id.desc())
        if descending
        else (column.asc(), contracts.c.contract_id.asc())
    )
    limit = bindparam("limit", params["limit"], type_=_INTEGER)
    after_id = (
        bindparam("after_id", params["after_id"], type_=_BIGINT) if "after_id" in params else None
    )
    shared = filter_conditions(query, params, with_status=False)
    segments: list[AnySelect] = []
    for status in _statuses(query):
        by_status = [_status_is(status), *shared]
        if after_id is None or "after_value" in params:
            conditions = list(by_status)
            if nullable:
                conditions.append(column.is_not(None))
            if after_id is not None:
                key = tuple_(column, contracts.c.contract_id)
                bound = tuple_(
                    bindparam("after_value", params["after_value"], column.type), after_id
                )
                conditions.append(key < bound if descending else key > bound)
            segments.append(select(*SUMMARY_COLUMNS).where(*conditions))
        if nullable:
            conditions = [*by_status, column.is_(None)]
            if after_id is not None and "after_value" not in params:
                conditions.append(
                    contracts.c.contract_id < after_id
                    if descending
                    else contracts.c.contract_id > after_id
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


def _shape(kind: str, query: ContractListQuery, params: Params) -> Hashable:
    return (kind, query.sort, query.order, query.status, query.include_requested, tuple(params))


def list_query(
    query: ContractListQuery, after: Keyset | None, limit: int
) -> tuple[CompiledStatement, Params]:
    """What ``list_statement`` compiles to, from the cache when the shape was seen before."""
    params = list_params(query, after, limit)
    statement = STATEMENTS.get(
        _shape("list", query, params), lambda: _list_statement(query, params)
    )
    return statement, params


async def list_contracts(
    connection: asyncpg.Connection, query: ContractListQuery, after: Keyset | None, limit: int
) -> list[asyncpg.Record]:
    """The page's rows (``SUMMARY_COLUMNS``), as asyncpg records."""
    return await fetch(connection, *list_query(query, after, limit))


# --- counting ----------------------------------------------------------------------------


class Explain(Executable, ClauseElement):
    """``EXPLAIN (FORMAT JSON) <statement>`` with the statement's parameters still bound."""

    inherit_cache = False

    def __init__(self, statement: Statement) -> None:
        self.statement = statement


@compiles(Explain, "postgresql")
def _compile_explain(element: Explain, compiler: SQLCompiler, **kw: Any) -> str:
    return "EXPLAIN (FORMAT JSON) " + compiler.process(element.statement, **kw)


def _top_plan(document: Any) -> dict[str, Any]:
    plans = json.loads(document) if isinstance(document, str) else document
    plan: dict[str, Any] = plans[0]
    return plan


async def explain(connection: AsyncConnection, statement: Statement) -> dict[str, Any]:
    """The planner's plan of ``statement`` (the top object of EXPLAIN's JSON)."""
    return _top_plan((await connection.execute(Explain(statement))).scalar_one())


def count_params(query: ContractListQuery, exact_threshold: int) -> Params:
    return {**filter_params(query), "cap": exact_threshold + 1}


def capped_count_statement(query: ContractListQuery, exact_threshold: int) -> AnySelect:
    """Counts the matching rows, but stops after ``exact_threshold + 1`` of them."""
    return _capped_count_statement(query, count_params(query, exact_threshold))


def _capped_count_statement(query: ContractListQuery, params: Params) -> AnySelect:
    capped = (
        select(literal_column("1").label("one"))
        .select_from(contracts)
        .where(*filter_conditions(query, params, with_status=True))
        .limit(bindparam("cap", params["cap"], type_=_INTEGER))
        .subquery("capped")
    )
    return select(func.count()).select_from(capped)


def estimate_statement(query: ContractListQuery) -> AnySelect:
    """The statement whose EXPLAIN row estimate stands in for a large count."""
    return _estimate_statement(query, filter_params(query))


def _estimate_statement(query: ContractListQuery, params: Params) -> AnySelect:
    return select(contracts.c.contract_id).where(
        *filter_conditions(query, params, with_status=True)
    )


def count_query(query: ContractListQuery, exact_threshold: int) -> tuple[CompiledStatement, Params]:
    """What ``capped_count_statement`` compiles to (cached by shape)."""
    params = count_params(query, exact_threshold)
    statement = STATEMENTS.get(
        _shape("count", query, params), lambda: _capped_count_statement(query, params)
    )
    return statement, params


def estimate_query(query: ContractListQuery) -> tuple[CompiledStatement, Params]:
    """``EXPLAIN (FORMAT JSON)`` of ``estimate_statement`` (cached by shape)."""
    params = filter_params(query)
    statement = STATEMENTS.get(
        _shape("estimate", query, params), lambda: Explain(_estimate_statement(query, params))
    )
    return statement, params


async def count_contracts(
    connection: asyncpg.Connection, query: ContractListQuery, exact_threshold: int
) -> tuple[int, bool]:
    """``(total, exact)``: counted up to ``exact_threshold`` rows, estimated above it."""
    counted: int = (await fetch(connection, *count_query(query, exact_threshold)))[0][0]
    if counted <= exact_threshold:
        return counted, True
    plan = _top_plan((await fetch(connection, *estimate_query(query)))[0][0])
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
