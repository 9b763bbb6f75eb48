"""Text searched with LIKE / ILIKE, wildcards taken literally."""

from __future__ import annotations

from typing import Final

LIKE_ESCAPE: Final = "/"


def like_escaped(text: str) -> str:
    """``text`` with LIKE's wildcards (and the escape character) matching themselves."""
    return (
        text.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2)
        .replace("%", LIKE_ESCAPE + "%")
        .replace("_", LIKE_ESCAPE + "_")
    )
