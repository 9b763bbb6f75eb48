"""One page of contracts: the keyset-paginated list statement and its execution.

Rows are ordered by ``(sort column, contract_id)`` in the asked direction, rows without a sort
value (NULL price, reward, volume or reward per m³) last in both directions. To let every part
of that order come straight off a btree index ``(status, column, contract_id)`` the list query is a
``UNION ALL`` of *segments*, one per status asked for and, for a nullable column, one for the
rows with a value and one for the rows without; each segment is an ordered, LIMITed index scan
and the union is merged by a sort of at most ``4 * (limit + 1)`` rows. A position in the NULL
rows skips the segments of rows with a value.

A system with few contracts (``system_id``) is read the other way round: its contracts first,
through the stations' index, then sorted (``filter_first``). Walking a sort order's index for
them reads past every other contract: PostgreSQL estimates a system it has no statistics of
at some thousands of contracts, so it walks the order expecting to meet them soon, and a
system with none made it read the whole index (seconds at a million contracts).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

import asyncpg
from sqlalchemy import ColumnElement, bindparam, literal_column, select, tuple_, union_all

from services.api.kit.statements import CompiledStatement, Params, read_rows
from services.api.queries.columns import (
    NULLABLE_SORTS,
    SORT_COLUMNS,
    SUMMARY_COLUMNS,
    AnySelect,
    Statement,
    contracts,
)
from services.api.queries.filters import (
    BIGINT,
    INTEGER,
    filter_conditions,
    filter_params,
    status_is,
    statuses,
)
from services.api.queries.shapes import STATEMENTS, shape_key
from services.api.schemas import ContractListQuery

SortValue = Decimal | float | datetime
#: A segment's position condition, given its sort column and contract id column.
_Position = Callable[[ColumnElement[Any], ColumnElement[Any]], ColumnElement[bool]]


@dataclass(frozen=True, slots=True)
class Keyset:
    """The position after which the next page starts."""

    value: SortValue | None
    contract_id: int


def list_params(query: ContractListQuery, after: Keyset | None, limit: int) -> Params:
    params = filter_params(query)
    if after is not None:
        if after.value is not None:
            params["after_value"] = after.value
        params["after_id"] = after.contract_id
    params["limit"] = limit
    return params


def list_statement(
    query: ContractListQuery, after: Keyset | None, limit: int, *, filter_first: bool = False
) -> Statement:
    """One page of contracts after ``after`` (``limit`` rows at most), in the asked order."""
    return _list_statement(query, list_params(query, after, limit), filter_first)


#: Bounds on a nullable sort column: a row that meets one has a value, so with one of them
#: the segments of rows without a value are left out (each would be a scan finding nothing).
VALUE_BOUNDS: Final = {
    "price": ("min_price", "max_price"),
    "reward": ("min_reward", "max_reward"),
    "volume": ("min_volume", "max_volume"),
    "reward_per_m3": ("min_reward_per_m3",),
}


#: A system from which fewer contracts than this start is read filter first (see above): its
#: contracts are at most this many rows to sort. A busier system is left to the planner.
FILTER_FIRST_MAX_CONTRACTS: Final = 10_000

#: Whether fewer than ``$2`` contracts (of any status) start at a station of system ``$1``:
#: at most ``$2`` entries of the stations' index are read.
_FEW_CONTRACTS_START_IN: Final = """
SELECT count(*) < $2 FROM (
    SELECT 1 FROM contracts
    WHERE start_location_id IN (SELECT station_id FROM stations WHERE system_id = $1)
    LIMIT $2
) AS started
"""


async def few_contracts_start_in(
    connection: asyncpg.Connection, system_id: int, bound: int = FILTER_FIRST_MAX_CONTRACTS
) -> bool:
    few = await connection.fetchval(_FEW_CONTRACTS_START_IN, system_id, bound)
    return bool(few)


async def reads_filter_first(connection: asyncpg.Connection, query: ContractListQuery) -> bool:
    """Whether ``query``'s page is read filter first: it asks for a system with few contracts."""
    return query.system_id is not None and await few_contracts_start_in(connection, query.system_id)


def _list_statement(query: ContractListQuery, params: Params, filter_first: bool) -> Statement:
    column = SORT_COLUMNS[query.sort]
    descending = query.order == "desc"
    # A position among the rows without a value (a cursor made for these very filters cannot
    # be one) keeps the NULL segments: the answer stays what the filters select (nothing).
    bounded = "after_id" not in params or "after_value" in params
    nullable = query.sort in NULLABLE_SORTS and not (
        bounded and any(name in params for name in VALUE_BOUNDS.get(query.sort, ()))
    )
    limit = bindparam("limit", params["limit"], type_=INTEGER)
    after_id = (
        bindparam("after_id", params["after_id"], type_=BIGINT) if "after_id" in params else None
    )
    after_value = (
        bindparam("after_value", params["after_value"], column.type)
        if "after_value" in params
        else None
    )

    def after_row(sort: ColumnElement[Any], ident: ColumnElement[Any]) -> ColumnElement[bool]:
        key, bound = tuple_(sort, ident), tuple_(after_value, after_id)
        return key < bound if descending else key > bound

    def after_ident(_: ColumnElement[Any], ident: ColumnElement[Any]) -> ColumnElement[bool]:
        assert after_id is not None
        return ident < after_id if descending else ident > after_id

    shared = filter_conditions(query, params, with_status=False)
    #: Each segment's filters, and its position condition on (sort column, contract id).
    segments: list[tuple[list[ColumnElement[bool]], _Position | None]] = []
    for status in statuses(query):
        by_status = [status_is(status), *shared]
        if after_id is None or after_value is not None:
            filters = [*by_status, column.is_not(None)] if nullable else list(by_status)
            segments.append((filters, after_row if after_id is not None else None))
        if nullable:
            # Ordering the NULL rows by (column, contract_id) rather than contract_id alone
            # is the same order and matches the index, so no sort is needed.
            null_position: _Position | None = (
                after_ident if after_id is not None and after_value is None else None
            )
            segments.append(([*by_status, column.is_(None)], null_position))
    ordered: list[AnySelect] = []
    sort: ColumnElement[Any]
    ident: ColumnElement[Any]
    for filters, position in segments:
        if filter_first:
            # OFFSET 0 keeps the filtered rows a subquery of their own: the ORDER BY above it
            # cannot be answered by walking an index. The position is tested above it too, so
            # that its range does not lead the planner into an index either.
            found = select(*SUMMARY_COLUMNS).where(*filters).offset(literal_column("0"))
            rows = found.subquery()
            sort, ident = rows.c[query.sort], rows.c.contract_id
            segment = select(*rows.c)
        else:
            sort, ident = column, contracts.c.contract_id
            segment = select(*SUMMARY_COLUMNS).where(*filters)
        if position is not None:
            segment = segment.where(position(sort, ident))
        by = (sort.desc(), ident.desc()) if descending else (sort.asc(), ident.asc())
        ordered.append(segment.order_by(*by).limit(limit))
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


def list_query(
    query: ContractListQuery, after: Keyset | None, limit: int, *, filter_first: bool = False
) -> tuple[CompiledStatement, Params]:
    """What ``list_statement`` compiles to, from the cache when the shape was seen before."""
    params = list_params(query, after, limit)
    statement = STATEMENTS.get(
        (shape_key("list", query, params), filter_first),
        lambda: _list_statement(query, params, filter_first),
    )
    return statement, params


async def list_contracts(
    connection: asyncpg.Connection, query: ContractListQuery, after: Keyset | None, limit: int
) -> list[asyncpg.Record]:
    """The page's rows (``SUMMARY_COLUMNS``), as asyncpg records."""
    filter_first = await reads_filter_first(connection, query)
    return await read_rows(connection, *list_query(query, after, limit, filter_first=filter_first))
