"""The API's pure parts: cursor codec, sort values, conditional requests, query model, settings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import httpx
import pytest
from pydantic import ValidationError
from starlette.types import Receive, Scope, Send

from services.api.caching import none_match
from services.api.cursor import Cursor, CursorCodec, InvalidCursorError, filters_digest
from services.api.errors import CatchAllMiddleware
from services.api.queries import InvalidSortValueError, sort_value_from_text, sort_value_to_text
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
