"""JSON bodies written straight from database rows with orjson.

The hot path (``GET /v1/contracts``) does not build response models: it writes the rows asyncpg
returns, with the bytes the models' JSON would have (``tests/integration/test_api_contracts.py``
holds the two to the same output): money is the exact decimal as a string (``numeric(20, 2)``
arrives as PostgreSQL's text of it, see ``app._numeric_as_text``; a ``Decimal`` is written as
its ``str``), timestamps are ISO-8601 UTC with ``Z``, floats are JSON numbers, keys keep the
column order, which is the models' field order.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Final

import orjson

_OPTIONS: Final = orjson.OPT_UTC_Z


def _default(value: object) -> str:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def json_bytes(value: Any) -> bytes:
    return orjson.dumps(value, default=_default, option=_OPTIONS)
