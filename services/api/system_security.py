"""A solar system's security as EVE shows it, and its class (high, low, null sec).

ESI (``/universe/systems/{id}``) and the SDE give the *true* security status, a float with full
precision. The game shows it rounded to one decimal, by the rule CCP's third-party developer
documentation states (developers.eveonline.com, guides, "System Security"):

- ordinary rounding, halves upwards (0.45 shows 0.5, 0.449999 shows 0.4);
- except that a status in (0.0, 0.05) shows 0.1, never 0.0: any positive status is low sec.

The classes follow the shown value, so on the true value they are:

- ``highsec``: shown 0.5 to 1.0, true status >= 0.45;
- ``lowsec``: shown 0.1 to 0.4, true status in (0.0, 0.45);
- ``nullsec``: shown 0.0 or below, true status <= 0.0 (wormhole space included).

Filters compare the true value with these bounds (``HIGHSEC_FLOOR`` and 0.0); answers carry
the shown value (``displayed_security``), rounded from the shortest decimal text of the float,
so that a stored 0.35 shows 0.4 as players expect, not 0.3 from its binary approximation.
"""

from __future__ import annotations

import math
from decimal import Decimal

from common.security_classes import HIGHSEC_FLOOR, SecurityClass

__all__ = ["HIGHSEC_FLOOR", "SecurityClass", "displayed_security", "security_class"]


def displayed_security(true_status: float) -> float:
    """The status as the game shows it (one decimal)."""
    if 0.0 < true_status < 0.05:
        return 0.1
    tenths = math.floor(Decimal(repr(true_status)) * 10 + Decimal("0.5"))
    return tenths / 10


def security_class(true_status: float) -> SecurityClass:
    if true_status >= HIGHSEC_FLOOR:
        return "highsec"
    if true_status > 0.0:
        return "lowsec"
    return "nullsec"
