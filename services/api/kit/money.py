"""Bounds on money columns of whole cents."""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Final

CENT: Final = Decimal("0.01")


def cents_at_least(amount: Decimal) -> Decimal:
    """The smallest whole-cent amount >= ``amount``: for a column of whole cents,
    ``money >= amount`` exactly, with a bound of bounded length whatever the input's
    precision or exponent (``1e-100000`` would not fit a PostgreSQL numeric)."""
    return amount.quantize(CENT, rounding=ROUND_CEILING)


def cents_at_most(amount: Decimal) -> Decimal:
    """The largest whole-cent amount <= ``amount`` (see :func:`cents_at_least`)."""
    return amount.quantize(CENT, rounding=ROUND_FLOOR)
