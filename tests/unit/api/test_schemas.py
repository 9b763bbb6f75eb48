"""The list's query model: normalised filters, timestamps, ranges, what a cursor binds."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from services.api.schemas import ContractListQuery


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
        {
            "type": ["auction"],
            "limit": 7,
            "count": True,
            "facets": True,
            "cursor": "x",
            "sort": "price",
        }
    )
    assert base.filter_fields() == paged.filter_fields()
    assert "limit" not in base.filter_fields()


def test_the_search_text_needs_a_word_the_index_can_look_up() -> None:
    assert ContractListQuery.model_validate({"q": "x  1mn"}).q == "x  1mn"
    for text in ("%%%", "a b c", "__x__", "ab-cd"):
        with pytest.raises(ValidationError, match="run of at least 3 letters or digits"):
            ContractListQuery.model_validate({"q": text})
