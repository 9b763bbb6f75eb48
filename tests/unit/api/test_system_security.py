"""A system's security as EVE shows it, and its class, at the rounding edges."""

from __future__ import annotations

import pytest

from services.api.system_security import displayed_security, security_class


@pytest.mark.parametrize(
    ("true_status", "shown", "klass"),
    [
        (1.0, 1.0, "highsec"),
        (0.9459131, 0.9, "highsec"),
        (0.45, 0.5, "highsec"),  # halves round up
        (0.4499999, 0.4, "lowsec"),
        (0.35, 0.4, "lowsec"),  # the decimal 0.35, not its binary approximation
        (0.05, 0.1, "lowsec"),
        (0.0499, 0.1, "lowsec"),  # any positive status shows at least 0.1
        (1e-9, 0.1, "lowsec"),
        (0.0, 0.0, "nullsec"),
        (-0.0, 0.0, "nullsec"),
        (-0.04, 0.0, "nullsec"),
        (-0.3, -0.3, "nullsec"),
        (-0.99, -1.0, "nullsec"),
    ],
)
def test_shown_security_and_class(true_status: float, shown: float, klass: str) -> None:
    assert displayed_security(true_status) == shown
    assert security_class(true_status) == klass
    # the class is the one of the shown value: 0.5 and up high, 0.1 to 0.4 low, else null
    by_shown = "highsec" if shown >= 0.5 else "lowsec" if shown > 0 else "nullsec"
    assert by_shown == klass
