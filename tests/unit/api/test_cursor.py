"""The list's cursor: the signed token, sort values as text, the position a request reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from services.api.cursor import (
    Cursor,
    CursorCodec,
    InvalidCursorError,
    InvalidSortValueError,
    filters_digest,
    position_after,
    sort_value_from_text,
    sort_value_to_text,
)
from services.api.queries import Keyset
from services.api.schemas import ContractListQuery, SortKey

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


def _request(codec: CursorCodec, cursor: Cursor, **params: object) -> ContractListQuery:
    return ContractListQuery.model_validate({**params, "cursor": codec.encode(cursor)})


def test_a_request_reads_the_position_its_cursor_was_issued_for() -> None:
    codec = CursorCodec(SECRET)
    params = {"sort": "price", "order": "asc", "type": ["auction"]}
    digest = filters_digest(ContractListQuery.model_validate(params).filter_fields())
    query = _request(codec, Cursor("price", "asc", "1500000.25", 190319637, digest), **params)
    assert position_after(query, codec, digest) == Keyset(Decimal("1500000.25"), 190319637)
    assert position_after(ContractListQuery(), codec, digest) is None


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"sort": "price", "order": "desc"}, "sort=price&order=asc"),
        ({"sort": "volume", "order": "asc"}, "sort=price&order=asc"),
        ({"sort": "price", "order": "asc", "type": ["loan"]}, "other filters"),
    ],
)
def test_a_cursor_of_another_sort_or_other_filters_is_refused(
    params: dict[str, object], message: str
) -> None:
    codec = CursorCodec(SECRET)
    issued_for = ContractListQuery.model_validate({"type": ["auction"]})
    digest = filters_digest(issued_for.filter_fields())
    query = _request(codec, Cursor("price", "asc", "1.00", 5, digest), **params)
    with pytest.raises(InvalidCursorError, match=message):
        position_after(query, codec, filters_digest(query.filter_fields()))
