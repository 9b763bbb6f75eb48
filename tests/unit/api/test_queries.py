"""The compiled-statement cache of the list, count and estimate statements."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement

from services.api import queries
from services.api.kit.explain import Explain
from services.api.queries import NULLABLE_SORTS, Keyset
from services.api.schemas import ContractListQuery


def _random_query(
    shape: random.Random, rng: random.Random
) -> tuple[ContractListQuery, Keyset | None]:
    """A query with filters, sort and page position drawn from ``shape`` and values from
    ``rng``: the same ``shape`` state gives queries of one shape with other values."""
    lengths = [shape.randint(1, 3) for _ in range(3)]
    values: dict[str, object] = {
        "sort": shape.choice(["price", "date_issued", "date_expired", "volume", "reward"]),
        "order": shape.choice(["asc", "desc"]),
        "status": shape.choice(["outstanding", "gone", "all"]),
        "include_requested": shape.random() < 0.5,
        "limit": rng.randint(1, 500),
    }
    optional: dict[str, object] = {
        "region_id": rng.sample(range(10000001, 10000070), lengths[0]),
        "type": rng.sample(["auction", "courier", "item_exchange", "loan"], lengths[1]),
        "contains_type_id": rng.sample(range(1, 40000), lengths[2]),
        "min_price": f"{rng.randint(0, 10**6)}.{rng.randint(0, 999)}",
        "max_price": f"{rng.randint(10**6, 10**9)}",
        "min_reward": str(rng.randint(0, 100)),
        "max_collateral": str(rng.randint(10**3, 10**9)),
        "min_volume": rng.random() * 100,
        "max_volume": 100 + rng.random() * 1e6,
        "issued_after": f"2025-01-{rng.randint(1, 9):02d}T00:00:00Z",
        "expires_before": f"2025-02-{rng.randint(10, 28):02d}T12:00:00+02:00",
        "issuer_id": rng.randint(1, 2**63 - 1),
        "end_location_id": rng.randint(60000000, 61000000),
        "title": rng.choice(["raven", "100%", "a_b", "x/y", "ünï"]),
    }
    for name, given in optional.items():
        if shape.random() < 0.3:
            values[name] = given
    query = ContractListQuery.model_validate(values)
    position = shape.random()
    if position < 0.3:
        return query, None
    if position < 0.5 and query.sort in NULLABLE_SORTS:
        return query, Keyset(None, rng.randint(1, 10**9))
    sort_values: dict[str, Decimal | float | datetime] = {
        "price": Decimal(rng.randint(0, 10**8)) / 100,
        "reward": Decimal(rng.randint(0, 10**6)),
        "volume": rng.random() * 1e5,
        "date_issued": datetime(2025, 1, rng.randint(1, 28), tzinfo=UTC),
        "date_expired": datetime(2025, 2, rng.randint(1, 28), tzinfo=UTC),
    }
    return query, Keyset(sort_values[query.sort], rng.randint(1, 10**9))


def _fresh(statement: ClauseElement) -> tuple[str, list[object]]:
    dialect = asyncpg_dialect()  # type: ignore[no-untyped-call]
    compiled = statement.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    assert isinstance(compiled, SQLCompiler)
    return str(compiled), [compiled.params[name] for name in compiled.positiontup or ()]


def test_cached_statements_are_what_compiling_each_request_would_give() -> None:
    """The cache key holds everything that changes the SQL (a cached text would differ from a
    fresh one otherwise), and the parameters go where a fresh compilation puts them: queries
    of 60 random shapes, 3 with other values each and twins of each (cache hits)."""
    rng = random.Random(20250101)
    for shape_seed in range(60):
        for _ in range(3):
            query, after = _random_query(random.Random(shape_seed), rng)
            _check_cached(query, after)
            # Twins that differ in one way that changes the SQL but not the parameter names.
            for change in (
                {"include_requested": not query.include_requested},
                {"order": "asc" if query.order == "desc" else "desc"},
                {"status": "all" if query.status != "all" else "gone"},
            ):
                _check_cached(query.model_copy(update=change), after)


def _check_cached(query: ContractListQuery, after: Keyset | None) -> None:
    statement, params = queries.list_query(query, after, query.limit + 1)
    assert (statement.sql, statement.arguments(params)) == _fresh(
        queries.list_statement(query, after, query.limit + 1)
    )
    statement, params = queries.count_query(query, 10_000)
    assert (statement.sql, statement.arguments(params)) == _fresh(
        queries.capped_count_statement(query, 10_000)
    )
    statement, params = queries.estimate_query(query)
    assert (statement.sql, statement.arguments(params)) == _fresh(
        Explain(queries.estimate_statement(query))
    )


def test_a_shape_seen_before_is_not_compiled_again() -> None:
    first = ContractListQuery.model_validate({"region_id": [1], "min_price": "5", "sort": "price"})
    other = ContractListQuery.model_validate({"region_id": [2], "min_price": "7", "sort": "price"})
    statement, params = queries.list_query(first, Keyset(Decimal("9.99"), 5), 51)
    again, other_params = queries.list_query(other, Keyset(Decimal("1.00"), 6), 11)
    assert again is statement
    assert statement.arguments(params) != again.arguments(other_params)
