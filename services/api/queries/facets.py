"""Facets of a list query: how many matching contracts there are by contract type and by the
category of their offered items, for the filters alone (no cursor, no page).

Bounded like ``count=true``: the statement takes at most ``max_contracts + 1`` matching contracts
(``LIMIT``, no order: the cheapest ones to find) and counts over those (categories from the
contracts' derived ``offered_category_ids``), so its cost is that of reading ``max_contracts``
rows whatever the table's size. When more match, the
answer says so (``complete`` false) and every count is a lower bound.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import asyncpg
from sqlalchemy import (
    Text,
    bindparam,
    cast,
    func,
    literal_column,
    null,
    select,
    true,
    union_all,
)

from common.db import ItemCategory
from services.api.kit.statements import CompiledStatement, Params, read_rows
from services.api.queries.columns import Statement, contracts
from services.api.queries.filters import INTEGER, filter_conditions, filter_params
from services.api.queries.shapes import STATEMENTS, shape_key
from services.api.schemas import ContractListQuery

categories: Final = ItemCategory.__table__


@dataclass(frozen=True, slots=True)
class FacetCounts:
    counted: int
    complete: bool
    by_type: list[dict[str, object]]
    by_category: list[dict[str, object]]


def facets_params(query: ContractListQuery, max_contracts: int) -> Params:
    return {**filter_params(query), "facet_cap": max_contracts + 1}


def facets_statement(query: ContractListQuery, max_contracts: int) -> Statement:
    """Rows ``(facet, key, name, contracts)``: ``('total', NULL, NULL, n)``, one
    ``('type', type, NULL, n)`` per contract type, one ``('category', id, name, n)`` per
    category of offered items."""
    return _facets_statement(query, facets_params(query, max_contracts))


def _facets_statement(query: ContractListQuery, params: Params) -> Statement:
    matched = (
        select(contracts.c.contract_id, contracts.c.type, contracts.c.offered_category_ids)
        .where(*filter_conditions(query, params, with_status=True))
        .limit(bindparam("facet_cap", params["facet_cap"], type_=INTEGER))
        .cte("matched")
    )
    total = select(
        literal_column("'total'", Text).label("facet"),
        null().label("key"),
        null().label("name"),
        func.count().label("contracts"),
    ).select_from(matched)
    by_type = select(literal_column("'type'", Text), matched.c.type, null(), func.count()).group_by(
        matched.c.type
    )
    offered = (
        func.unnest(matched.c.offered_category_ids)
        .table_valued("category_id")
        .render_derived(name="offered")
        .lateral()
    )
    by_category = (
        select(
            literal_column("'category'", Text),
            cast(offered.c.category_id, Text),
            func.min(categories.c.name),
            func.count(),
        )
        .select_from(
            matched.join(offered, true()).outerjoin(
                categories, categories.c.category_id == offered.c.category_id
            )
        )
        .group_by(offered.c.category_id)
    )
    return union_all(total, by_type, by_category)


def facets_query(query: ContractListQuery, max_contracts: int) -> tuple[CompiledStatement, Params]:
    params = facets_params(query, max_contracts)
    statement = STATEMENTS.get(
        shape_key("facets", query, params), lambda: _facets_statement(query, params)
    )
    return statement, params


async def count_facets(
    connection: asyncpg.Connection, query: ContractListQuery, max_contracts: int
) -> FacetCounts:
    rows = await read_rows(connection, *facets_query(query, max_contracts))
    counted = 0
    type_counts: list[tuple[str, int]] = []
    category_counts: list[tuple[int, str | None, int]] = []
    for facet, key, name, contracts_counted in rows:
        if facet == "total":
            counted = contracts_counted
        elif facet == "type":
            type_counts.append((key, contracts_counted))
        else:
            category_counts.append((int(key), name, contracts_counted))
    type_counts.sort(key=lambda row: (-row[1], row[0]))
    category_counts.sort(key=lambda row: (-row[2], row[0]))
    return FacetCounts(
        counted=counted,
        complete=counted <= max_contracts,
        by_type=[{"type": key, "contracts": n} for key, n in type_counts],
        by_category=[
            {"category_id": key, "category_name": name, "contracts": n}
            for key, name, n in category_counts
        ],
    )
