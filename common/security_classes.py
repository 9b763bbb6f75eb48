"""A solar system's security class by its true security status (high, low, null sec): the
bounds the game's shown value implies (``services/api/system_security.py`` says why)."""

from __future__ import annotations

from typing import Final, Literal

SecurityClass = Literal["highsec", "lowsec", "nullsec"]

HIGHSEC_FLOOR: Final = 0.45
"""The lowest true status shown as 0.5."""


def security_class_sql(status: str) -> str:
    """SQL: the class of the true status ``status`` (an SQL expression; NULL when unknown)."""
    return (
        f"CASE WHEN {status} >= {HIGHSEC_FLOOR} THEN 'highsec'"
        f" WHEN {status} > 0 THEN 'lowsec' WHEN {status} <= 0 THEN 'nullsec' END"
    )
