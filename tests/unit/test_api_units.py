"""The API's pure parts: cursor codec, sort values, conditional requests, query model, settings."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Annotated

import httpx
import pytest
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement
from starlette.datastructures import QueryParams
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from services.api import queries
from services.api.caching import none_match
from services.api.cursor import Cursor, CursorCodec, InvalidCursorError, filters_digest
from services.api.direct_route import query_model
from services.api.errors import CatchAllMiddleware
from services.api.queries import (
    NULLABLE_SORTS,
    InvalidSortValueError,
    Keyset,
    sort_value_from_text,
    sort_value_to_text,
)
from services.api.response_cache import ResponseCache
from services.api.schemas import ContractListQuery, SortKey
from services.api.settings import ApiSettings

SECRET = b"unit-test-secret-0123456789"
CURSOR = Cursor("price", "asc", "1500000.25", 190319637, "abc123")


def test_a_cursor_round_trips() -> None:
    codec = CursorCodec(SECRET)
    token = codec.encode(CURSOR)
    assert codec.decode(token) == CURSOR
    assert "1500000" not in token  # opaque (base64), if not secret


def test_a_null_sort_value_round_trips() -> None:
    codec = CursorCodec(SECRET)
    cursor = Cursor("volume", "desc", None, 5, "f")
    assert codec.decode(codec.encode(cursor)) == cursor


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda t: t.replace(".", ".A", 1), id="signature changed"),
        pytest.param(lambda t: "f" + t[1:], id="payload changed"),
        pytest.param(lambda t: t.split(".")[0], id="no signature"),
        pytest.param(lambda t: t + ".x", id="two dots"),
        pytest.param(lambda t: "%%%." + t.split(".")[1], id="not base64"),
        pytest.param(lambda t: t + "A" * 1100, id="too long"),
    ],
)
def test_a_changed_cursor_is_refused(mangle: object) -> None:
    codec = CursorCodec(SECRET)
    token = codec.encode(CURSOR)
    assert callable(mangle)
    changed = mangle(token)
    assert changed != token
    with pytest.raises(InvalidCursorError):
        codec.decode(changed)


def test_a_cursor_of_another_secret_is_refused() -> None:
    token = CursorCodec(b"another-secret-0123456789").encode(CURSOR)
    with pytest.raises(InvalidCursorError, match="signature"):
        CursorCodec(SECRET).decode(token)


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        CursorCodec(b"short")


def test_the_filters_digest_ignores_key_order_but_not_values() -> None:
    assert filters_digest({"a": 1, "b": [2, 3]}) == filters_digest({"b": [2, 3], "a": 1})
    assert filters_digest({"a": 1}) != filters_digest({"a": 2})


@pytest.mark.parametrize(
    ("sort", "value"),
    [
        ("price", Decimal("12345678901234567.89")),
        ("reward", Decimal("0.00")),
        ("volume", 0.1 + 0.2),
        ("volume", 1e-300),
        ("date_issued", datetime(2025, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)),
        ("date_expired", datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2)))),
        ("price", None),
    ],
)
def test_sort_values_round_trip_exactly(sort: SortKey, value: Decimal | float | datetime) -> None:
    assert sort_value_from_text(sort, sort_value_to_text(sort, value)) == value


@pytest.mark.parametrize(
    ("sort", "text"),
    [
        ("price", "abc"),
        ("price", "NaN"),
        ("reward", "Infinity"),
        ("volume", "inf"),
        ("volume", "x"),
        ("date_issued", "2025-01-01T00:00:00"),  # no offset
        ("date_expired", "tomorrow"),
        ("date_issued", None),
    ],
)
def test_bad_sort_values_are_refused(sort: SortKey, text: str | None) -> None:
    with pytest.raises(InvalidSortValueError):
        sort_value_from_text(sort, text)


@pytest.mark.parametrize(
    ("header", "matches"),
    [
        (None, False),
        ("", False),
        ('W/"abc"', True),
        ('"abc"', True),
        ('"x", W/"abc"', True),
        ("*", True),
        ('W/"abcd"', False),
        ('"ab"', False),
    ],
)
def test_if_none_match_uses_weak_comparison(header: str | None, matches: bool) -> None:
    assert none_match(header, 'W/"abc"') is matches


def test_list_filters_are_deduplicated_and_sorted() -> None:
    query = ContractListQuery.model_validate(
        {"region_id": [3, 1, 3], "type": ["loan", "auction", "loan"], "contains_type_id": [9, 2]}
    )
    assert query.region_id == [1, 3]
    assert query.type == ["auction", "loan"]
    assert query.contains_type_id == [2, 9]


def test_timestamps_without_offset_are_utc_and_others_are_converted() -> None:
    query = ContractListQuery.model_validate(
        {"issued_after": "2025-01-01T10:00:00", "issued_before": "2025-01-01T12:00:00+02:00"}
    )
    assert query.issued_after == datetime(2025, 1, 1, 10, tzinfo=UTC)
    assert query.issued_before == datetime(2025, 1, 1, 10, tzinfo=UTC)
    assert query.issued_before.tzinfo == UTC


def test_an_empty_range_is_refused_and_a_point_range_is_not() -> None:
    with pytest.raises(ValidationError, match="empty range for price, expires"):
        ContractListQuery.model_validate(
            {
                "min_price": "2",
                "max_price": "1",
                "expires_after": "2025-02-01T00:00:00Z",
                "expires_before": "2025-01-01T00:00:00Z",
            }
        )
    assert ContractListQuery.model_validate({"min_price": "2", "max_price": "2"}).min_price == 2


def test_the_cursor_is_bound_to_filters_not_to_paging() -> None:
    base = ContractListQuery.model_validate({"type": ["auction"]})
    paged = ContractListQuery.model_validate(
        {"type": ["auction"], "limit": 7, "count": True, "cursor": "x", "sort": "price"}
    )
    assert base.filter_fields() == paged.filter_fields()
    assert "limit" not in base.filter_fields()


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HANGAR_API_HOST", "0.0.0.0")
    monkeypatch.setenv("HANGAR_API_PORT", "8081")
    monkeypatch.setenv("HANGAR_CORS_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("HANGAR_CURSOR_SECRET", "a-shared-secret-for-all-replicas")
    settings = ApiSettings()
    assert (settings.api_host, settings.api_port) == ("0.0.0.0", 8081)
    assert settings.cors_origins == ["https://a.example", "https://b.example"]
    assert settings.cursor_secret.get_secret_value() == "a-shared-secret-for-all-replicas"
    assert "a-shared-secret" not in repr(settings)


def test_settings_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HANGAR_API_HOST", "HANGAR_API_PORT", "HANGAR_CORS_ORIGINS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("HANGAR_CURSOR_SECRET", raising=False)
    first, second = ApiSettings(), ApiSettings()
    assert (first.api_host, first.api_port, first.cors_origins) == ("127.0.0.1", 8000, [])
    assert (first.statement_timeout_ms, first.count_exact_threshold) == (5000, 10_000)
    # The default cursor secret is random per process (documented: set it in production).
    assert first.cursor_secret.get_secret_value() != second.cursor_secret.get_secret_value()


async def test_an_unexpected_exception_becomes_a_generic_500() -> None:
    async def broken(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("secret internals: password=hunter2")

    transport = httpx.ASGITransport(app=CatchAllMiddleware(broken))
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        response = await client.get("/anything")
    assert response.status_code == 500
    assert response.json() == {
        "error": {"code": "internal_error", "message": "internal server error", "details": []}
    }
    assert "hunter2" not in response.text


# --- the list route's own query parsing and compiled-statement cache ----------------------


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
        queries.Explain(queries.estimate_statement(query))
    )


def test_a_shape_seen_before_is_not_compiled_again() -> None:
    first = ContractListQuery.model_validate({"region_id": [1], "min_price": "5", "sort": "price"})
    other = ContractListQuery.model_validate({"region_id": [2], "min_price": "7", "sort": "price"})
    statement, params = queries.list_query(first, Keyset(Decimal("9.99"), 5), 51)
    again, other_params = queries.list_query(other, Keyset(Decimal("1.00"), 6), 11)
    assert again is statement
    assert statement.arguments(params) != again.arguments(other_params)


def _fastapi_parsing() -> FastAPI:
    """The generic FastAPI route the list route's own parsing stands in for."""
    app = FastAPI()

    @app.get("/q")
    async def parsed(query: Annotated[ContractListQuery, Query()]) -> Response:
        return Response(query.model_dump_json(), media_type="application/json")

    async def refused(_: Request, error: Exception) -> Response:
        assert isinstance(error, RequestValidationError)
        return JSONResponse(_details(error), status_code=422)

    app.add_exception_handler(RequestValidationError, refused)
    return app


def _details(error: RequestValidationError) -> list[dict[str, object]]:
    return [
        {"loc": list(detail["loc"]), "msg": detail["msg"], "type": detail["type"]}
        for detail in error.errors()
    ]


@pytest.mark.parametrize(
    "query_string",
    [
        "",
        "region_id=10000002",
        "region_id=3&region_id=1&region_id=3&type=loan&type=auction",
        "limit=5&limit=7",  # the last value of a repeated scalar
        "status=all&sort=price&order=asc&count=true&include_requested=1",
        "min_price=1e3&max_price=1500000.00&min_volume=.5&max_volume=1e6",
        "issued_after=2025-01-01&issued_before=2025-01-02T00:00:00%2B02:00",
        "title=100%25&cursor=abc.def",
        "limit=0&region_id=x&region_id=-1",
        "limit=",
        "min_price=10&max_price=5",
        "regionid=1",
        "regionid=1&regionid=2&other=x",
        "sort=title&order=up&status=expired",
        "issued_after=1735689600",
        "count=maybe&include_requested=",
        "region_id=" + "&region_id=".join(str(n) for n in range(1, 102)),
        "title=",
    ],
)
async def test_the_list_route_parses_its_query_as_fastapi_does(query_string: str) -> None:
    transport = httpx.ASGITransport(app=_fastapi_parsing())
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        expected = await client.get(f"/q?{query_string}")
    if expected.status_code == 422:
        with pytest.raises(RequestValidationError) as refused:
            query_model(ContractListQuery, QueryParams(query_string))
        assert _details(refused.value) == expected.json()
    else:
        assert expected.status_code == 200, expected.text
        parsed = query_model(ContractListQuery, QueryParams(query_string))
        assert parsed.model_dump_json() == expected.text


async def test_the_response_cache_stays_within_its_bytes_evicting_the_least_recently_used() -> None:
    cache = ResponseCache(ttl_s=60, max_bytes=400)
    computed: list[str] = []

    def body_of(key: str, size: int) -> Callable[[], Awaitable[bytes]]:
        async def compute() -> bytes:
            computed.append(key)
            return key.encode().ljust(size, b".")

        return compute

    for key in ("a", "b", "c"):
        await cache.get_or_compute(key, body_of(key, 100))
    await cache.get_or_compute("a", body_of("a", 100))  # "a" is now the most recent
    await cache.get_or_compute("d", body_of("d", 100))
    await cache.get_or_compute("e", body_of("e", 100))  # evicts "b", the least recent
    assert cache.size_bytes == 400
    await cache.get_or_compute("a", body_of("a", 100))
    await cache.get_or_compute("b", body_of("b", 100))
    await cache.get_or_compute("huge", body_of("huge", 101))  # over a quarter: never kept
    await cache.get_or_compute("huge", body_of("huge", 101))
    assert computed == ["a", "b", "c", "d", "e", "b", "huge", "huge"]
    assert cache.size_bytes <= 400
