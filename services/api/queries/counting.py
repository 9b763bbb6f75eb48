"""How many contracts match: counted up to a threshold, the planner's estimate above it."""

from __future__ import annotations

import asyncpg
from sqlalchemy import bindparam, func, literal_column, select

from services.api.kit.explain import Explain, top_plan
from services.api.kit.statements import CompiledStatement, Params, read_rows
from services.api.queries.columns import AnySelect, contracts
from services.api.queries.filters import INTEGER, filter_conditions, filter_params
from services.api.queries.shapes import STATEMENTS, shape_key
from services.api.schemas import ContractListQuery


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
        .limit(bindparam("cap", params["cap"], type_=INTEGER))
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
        shape_key("count", query, params), lambda: _capped_count_statement(query, params)
    )
    return statement, params


def estimate_query(query: ContractListQuery) -> tuple[CompiledStatement, Params]:
    """``EXPLAIN (FORMAT JSON)`` of ``estimate_statement`` (cached by shape)."""
    params = filter_params(query)
    statement = STATEMENTS.get(
        shape_key("estimate", query, params), lambda: Explain(_estimate_statement(query, params))
    )
    return statement, params


async def count_contracts(
    connection: asyncpg.Connection, query: ContractListQuery, exact_threshold: int
) -> tuple[int, bool]:
    """``(total, exact)``: counted up to ``exact_threshold`` rows, estimated above it."""
    counted: int = (await read_rows(connection, *count_query(query, exact_threshold)))[0][0]
    if counted <= exact_threshold:
        return counted, True
    plan = top_plan((await read_rows(connection, *estimate_query(query)))[0][0])
    estimate = int(plan["Plan"]["Plan Rows"])
    return max(estimate, exact_threshold + 1), False
