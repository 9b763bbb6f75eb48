"""What the pages read, through the query layer the JSON routes use.

The only module of the pages that imports the query layer: the pages list, count and fetch
contracts with the very functions behind ``/v1/contracts``, ``/v1/contracts/{id}`` and
``/v1/regions``, and find places by name as ``/v1/locations`` does. Three small statements the
JSON API has no route for (the newest sweep of each region without counting contracts, the
highest bid of each listed auction, the names of the ids a page filters by) live here too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

import asyncpg
from sqlalchemy import ARRAY, BigInteger, any_, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from common.db import ContractBid, EntityName, RegionSweepState
from services.api import queries
from services.api.cursor import (
    Cursor,
    CursorCodec,
    InvalidCursorError,
    InvalidSortValueError,
    filters_digest,
    sort_value_from_text,
    sort_value_to_text,
)
from services.api.kit.statements import compile_statement, read_rows
from services.api.location_search import search_locations
from services.api.names import add_contract_names, add_detail_names
from services.api.schemas import ContractListQuery

Record = Mapping[str, Any]
_bids = ContractBid.__table__
_sweeps = RegionSweepState.__table__
_names = EntityName.__table__


class InvalidPositionError(ValueError):
    """A ``cursor`` or ``before`` parameter that does not fit this request."""


@dataclass(frozen=True, slots=True)
class ContractRows:
    """One page of contracts and the tokens of the pages beside it."""

    rows: list[dict[str, Any]]
    next_cursor: str | None
    before_cursor: str | None


def _digest(query: ContractListQuery) -> str:
    return filters_digest(query.filter_fields())


def _position(token: str, query: ContractListQuery, cursors: CursorCodec) -> queries.Keyset:
    try:
        cursor = cursors.decode(token)
        if (cursor.sort, cursor.order) != (query.sort, query.order):
            raise InvalidCursorError("the page link was made for another sort order")
        if cursor.filters_digest != _digest(query):
            raise InvalidCursorError("the page link was made for other filters")
        value = sort_value_from_text(query.sort, cursor.value)
    except (InvalidCursorError, InvalidSortValueError) as error:
        raise InvalidPositionError(str(error)) from error
    return queries.Keyset(value, cursor.contract_id)


def _token(row: Record, query: ContractListQuery, cursors: CursorCodec) -> str:
    return cursors.encode(
        Cursor(
            sort=query.sort,
            order=query.order,
            value=sort_value_to_text(query.sort, row[query.sort]),
            contract_id=row["contract_id"],
            filters_digest=_digest(query),
        )
    )


def _as_dicts(records: Sequence[asyncpg.Record]) -> list[dict[str, Any]]:
    names = queries.SUMMARY_NAMES
    return [dict(zip(names, record, strict=False)) for record in records]


async def _rows_before(
    connection: asyncpg.Connection, query: ContractListQuery, first: queries.Keyset
) -> tuple[list[dict[str, Any]], bool]:
    """The ``query.limit`` rows just before ``first`` in the query's order, and whether there
    are more before them. Read backwards: the query in the opposite order after ``first``.
    Rows without a sort value come last in both orders, so they are read apart: the ones
    before ``first`` (when ``first`` is one of them) by id, then the rows with a value."""
    limit = query.limit
    flipped = query.model_copy(update={"order": "asc" if query.order == "desc" else "desc"})
    found: list[dict[str, Any]] = []
    if first.value is None:
        found = _as_dicts(await queries.list_contracts(connection, flipped, first, limit + 1))
        found = [row for row in found if row[query.sort] is None]
        start: queries.Keyset | None = None
    else:
        start = first
    if len(found) <= limit:
        valued = _as_dicts(await queries.list_contracts(connection, flipped, start, limit + 1))
        found += [row for row in valued if row[query.sort] is not None]
    more = len(found) > limit
    return list(reversed(found[:limit])), more


async def contract_rows(
    connection: asyncpg.Connection,
    query: ContractListQuery,
    cursors: CursorCodec,
    before: str | None,
) -> ContractRows:
    """The page after ``query.cursor``, or the one before ``before``, or the first page."""
    limit = query.limit
    if before is not None:
        rows, more_before = await _rows_before(connection, query, _position(before, query, cursors))
        if not more_before:
            # The first page: read forwards, as a page without a position is.
            query = query.model_copy(update={"cursor": None})
            return await contract_rows(connection, query, cursors, None)
        await add_contract_names(connection, rows)
        return ContractRows(
            rows,
            next_cursor=_token(rows[-1], query, cursors),
            before_cursor=_token(rows[0], query, cursors),
        )
    after = _position(query.cursor, query, cursors) if query.cursor is not None else None
    rows = _as_dicts(await queries.list_contracts(connection, query, after, limit + 1))
    page = rows[:limit]
    await add_contract_names(connection, page)
    return ContractRows(
        page,
        next_cursor=_token(page[-1], query, cursors) if len(rows) > limit else None,
        before_cursor=_token(page[0], query, cursors) if after is not None and page else None,
    )


@dataclass(frozen=True, slots=True)
class Count:
    value: int
    exact: bool


async def count(
    connection: asyncpg.Connection, query: ContractListQuery, exact_threshold: int
) -> Count:
    value, exact = await queries.count_contracts(connection, query, exact_threshold)
    return Count(value, exact)


_HIGHEST_BIDS = compile_statement(
    select(_bids.c.contract_id, func.max(_bids.c.amount))
    .where(_bids.c.contract_id == any_(bindparam("contract_ids", type_=ARRAY(BigInteger()))))
    .group_by(_bids.c.contract_id)
)
_SWEEP_TIMES = compile_statement(
    select(_sweeps.c.region_id, _sweeps.c.swept_at, _names.c.name)
    .outerjoin(_names, _names.c.entity_id == _sweeps.c.region_id)
    .order_by(_sweeps.c.region_id)
)
_PICKED_NAMES: Final = """
SELECT 'type' AS kind, t.type_id AS id, t.name
FROM item_types AS t WHERE t.type_id = ANY($1::bigint[])
UNION ALL
SELECT 'region', e.entity_id, e.name FROM entity_names AS e WHERE e.entity_id = ANY($2::bigint[])
UNION ALL
SELECT 'system', y.system_id, y.name FROM solar_systems AS y WHERE y.system_id = ANY($3::bigint[])
UNION ALL
SELECT 'station', n.id, coalesce(s.name, e.name)
FROM unnest($4::bigint[]) AS n(id)
LEFT JOIN stations AS s ON s.station_id = n.id
LEFT JOIN entity_names AS e ON e.entity_id = n.id
WHERE coalesce(s.name, e.name) IS NOT NULL
"""


async def highest_bids(
    connection: asyncpg.Connection, contract_ids: Sequence[int]
) -> dict[int, Decimal]:
    """The highest bid of each of these auctions that has one."""
    if not contract_ids:
        return {}
    rows = await read_rows(connection, _HIGHEST_BIDS, {"contract_ids": list(contract_ids)})
    return {contract_id: Decimal(str(amount)) for contract_id, amount in rows}


@dataclass(frozen=True, slots=True)
class Sweep:
    swept_at: datetime
    region_name: str | None


async def sweep_times(connection: asyncpg.Connection) -> dict[int, Sweep]:
    """When the newest complete sweep of each region was applied (no contract is counted),
    with the region's name when known."""
    rows = await read_rows(connection, _SWEEP_TIMES, {})
    return {row[0]: Sweep(row[1], row[2]) for row in rows}


async def picked_names(
    connection: asyncpg.Connection, ids: Mapping[str, Sequence[int]]
) -> dict[tuple[str, int], str]:
    """The names of picked ids by kind (``type``, ``region``, ``system``, ``station``: a
    station or a named structure), in one statement; an id without a name is left out."""
    arguments = [list(ids.get(kind, ())) for kind in ("type", "region", "system", "station")]
    if not any(arguments):
        return {}
    rows = await connection.fetch(_PICKED_NAMES, *arguments)
    return {(row["kind"], row["id"]): row["name"] for row in rows}


async def best_place(connection: asyncpg.Connection, text: str) -> dict[str, Any] | None:
    """The place ``GET /v1/locations?q=text`` would list first."""
    found = await search_locations(connection, text, 1)
    return found[0] if found else None


@dataclass(frozen=True, slots=True)
class NamedContract:
    """A contract, its items and bids, with the names of its places, parties and types."""

    contract: dict[str, Any]
    items: list[dict[str, Any]]
    bids: list[queries.Row]


async def contract(connection: AsyncConnection, contract_id: int) -> NamedContract | None:
    found = await queries.get_contract(connection, contract_id)
    if found is None:
        return None
    named = NamedContract(dict(found.contract), [dict(item) for item in found.items], found.bids)
    await add_detail_names(connection, named.contract, named.items)
    return named


async def region_freshness(connection: AsyncConnection) -> list[Record]:
    return [dict(row) for row in await queries.region_freshness(connection)]
