"""What the list statement reads for the content filters and for bounds on the sort column."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect

from services.api import queries
from services.api.queries import Keyset
from services.api.schemas import ContractListQuery


def _sql(*after: Keyset, **params: Any) -> str:
    """The list statement's SQL for ``params``, after the position ``after`` when given."""
    query = ContractListQuery.model_validate(params)
    statement = queries.list_statement(query, after[0] if after else None, query.limit + 1)
    dialect = asyncpg_dialect()  # type: ignore[no-untyped-call]
    return str(statement.compile(dialect=dialect, compile_kwargs={"render_postcompile": True}))


def test_one_blueprint_bound_is_answered_by_the_contracts_summary() -> None:
    for bound in ("min_runs", "max_runs", "min_me", "max_me", "min_te", "max_te"):
        sql = _sql(bpc=True, **{bound: 5})
        assert "contract_items" not in sql, bound


def test_several_blueprint_bounds_probe_each_contracts_copies() -> None:
    sql = _sql(bpc=True, min_me=8, max_runs=10)
    assert "contract_items.material_efficiency >=" in sql
    assert "contract_items.runs <=" in sql
    assert "OFFSET 0" in sql  # a per-contract subplan, not a semi-join over every copy


def test_a_bound_on_the_sort_column_leaves_out_the_rows_without_a_value() -> None:
    for sort, bound in (
        ("price", {"min_price": "1000"}),
        ("price", {"max_price": "1000"}),
        ("reward", {"min_reward": "10"}),
        ("volume", {"max_volume": 10.0}),
        ("reward_per_m3", {"min_reward_per_m3": 100.0}),
    ):
        sql = _sql(sort=sort, **bound)
        assert "IS NULL" not in sql, (sort, bound)
        assert "UNION" not in sql, (sort, bound)
        assert "IS NULL" in _sql(sort=sort), sort


def test_a_position_among_the_rows_without_a_value_keeps_their_segment() -> None:
    sql = _sql(Keyset(None, 5), sort="price", order="asc", min_price="1000")
    assert "contracts.price IS NULL" in sql
    assert "contracts.contract_id > " in sql


def test_a_bound_on_another_column_keeps_the_rows_without_a_value() -> None:
    assert "contracts.price IS NULL" in _sql(sort="price", min_volume=1.0)
