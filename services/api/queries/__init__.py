"""The read side's query layer: every SQL statement the API runs on contracts.

Entry points (what routes and other API modules call, each on the caller's connection, never
committing):

- ``list_contracts(connection, query, after, limit)``: one page of contracts matching a
  ``ContractListQuery`` (filters, sort, order) after a ``Keyset`` position; asyncpg records of
  ``SUMMARY_COLUMNS``. ``count_contracts`` counts the same filters, ``count_facets`` counts
  them by contract type and item category (bounded).
- ``get_contract(session, contract_id)``: one contract with its items and bids, or ``None``.
- ``region_freshness``, ``contract_stats``, ``ping``.

User input only ever reaches PostgreSQL as bound parameters. The list, count and estimate
statements bind every value as a named parameter, so their SQL text depends only on the query's
shape: they are compiled once per shape (``shapes.STATEMENTS``) and run straight through
asyncpg; ``list_statement`` & co still give the Core statement (EXPLAIN tests, benchmark).
The other statements run through a SQLAlchemy connection.

Modules: ``columns`` (tables, selected and sort columns), ``filters`` (parameters and WHERE
conditions), ``shapes`` (the compiled-statement cache), ``listing`` (keyset pages),
``counting`` (exact up to a threshold, estimated above), ``facets`` (bounded counts by
contract type and item category), ``details`` (one contract, regions, stats). Generic
machinery (statement cache, EXPLAIN, cents, LIKE) is in ``services.api.kit``.
"""

from services.api.kit.explain import explain
from services.api.kit.statements import CompiledStatement, Params
from services.api.queries.columns import (
    NULLABLE_SORTS,
    SUMMARY_COLUMNS,
    SUMMARY_NAMES,
    Row,
    Statement,
)
from services.api.queries.counting import (
    capped_count_statement,
    count_contracts,
    count_query,
    estimate_query,
    estimate_statement,
)
from services.api.queries.details import (
    ContractWithParts,
    StatsRows,
    contract_stats,
    get_contract,
    ping,
    region_freshness,
)
from services.api.queries.facets import FacetCounts, count_facets, facets_query, facets_statement
from services.api.queries.filters import filter_params
from services.api.queries.listing import (
    Keyset,
    SortValue,
    list_contracts,
    list_query,
    list_statement,
)
from services.api.queries.shapes import STATEMENTS

__all__ = [
    "NULLABLE_SORTS",
    "STATEMENTS",
    "SUMMARY_COLUMNS",
    "SUMMARY_NAMES",
    "CompiledStatement",
    "ContractWithParts",
    "FacetCounts",
    "Keyset",
    "Params",
    "Row",
    "SortValue",
    "Statement",
    "StatsRows",
    "capped_count_statement",
    "contract_stats",
    "count_contracts",
    "count_facets",
    "count_query",
    "estimate_query",
    "estimate_statement",
    "explain",
    "facets_query",
    "facets_statement",
    "filter_params",
    "get_contract",
    "list_contracts",
    "list_query",
    "list_statement",
    "ping",
    "region_freshness",
]
