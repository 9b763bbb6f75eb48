"""Conditional requests: ``If-None-Match`` against a weak ``ETag``."""

from __future__ import annotations

import pytest

from services.api.http_validation import none_match


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
