"""The contract list as the API serves it: a request's filters, sort and cursor in, one page
of rows, the next page's cursor and the optional count out. The JSON route and any other
view of the list (web pages) call this, not the statements and the cursor one by one.

    start = start_page(query, cursors)          # InvalidCursorError: 422 invalid_cursor
    page = await read_page(state, start, cursors, count_exact_threshold, facet_max_contracts)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.api import queries
from services.api.cursor import CursorCodec, cursor_after, filters_digest, position_after
from services.api.dependencies import ApiState, driver_connection
from services.api.names import add_contract_names
from services.api.schemas import ContractListQuery


@dataclass(frozen=True, slots=True)
class PageStart:
    """A list request whose cursor has been checked: where its page starts."""

    query: ContractListQuery
    filters_digest: str
    after: queries.Keyset | None


@dataclass(frozen=True, slots=True)
class ContractRowsPage:
    rows: list[dict[str, Any]]
    """At most ``query.limit`` rows of ``queries.SUMMARY_COLUMNS`` (by ``SUMMARY_NAMES``), each
    with the names of its places and parties (``names.add_contract_names``)."""
    next_cursor: str | None
    total: tuple[int, bool] | None
    """``(value, exact)`` when the query asks for a count."""
    facets: queries.FacetCounts | None = None
    """When the query asks for facets."""


def start_page(query: ContractListQuery, cursors: CursorCodec) -> PageStart:
    """``InvalidCursorError`` when ``query.cursor`` was not issued for this sort, order and
    filters (or is not a cursor)."""
    digest = filters_digest(query.filter_fields())
    return PageStart(query, digest, position_after(query, cursors, digest))


async def read_page(
    state: ApiState,
    start: PageStart,
    cursors: CursorCodec,
    count_exact_threshold: int,
    facet_max_contracts: int,
) -> ContractRowsPage:
    query = start.query
    total = None
    facets = None
    # A connection only for the statements: under load, requests queue for the pool, and the
    # work around the statements needs none.
    async with driver_connection(state) as connection:
        rows = await queries.list_contracts(connection, query, start.after, query.limit + 1)
        if query.count:
            total = await queries.count_contracts(connection, query, count_exact_threshold)
        if query.facets:
            facets = await queries.count_facets(connection, query, facet_max_contracts)
        page_rows = [dict(zip(queries.SUMMARY_NAMES, row, strict=True)) for row in rows]
        del page_rows[query.limit :]
        await add_contract_names(connection, page_rows)
    next_cursor = None
    if len(rows) > query.limit:
        next_cursor = cursor_after(query, cursors, start.filters_digest, rows[query.limit - 1])
    return ContractRowsPage(page_rows, next_cursor, total, facets)
