"""The list's keyset cursor, all of it: reading the position a request's cursor points at,
writing the cursor of the next page, and the signed token in between.

A cursor is ``base64url(json payload) "." signature``, signed by itsdangerous (HMAC-SHA256,
key derived from ``HANGAR_CURSOR_SECRET`` with a salt of its own). The payload names the sort
key and order, the last row's sort value (its exact text, ``null`` for a row without one) and
contract id, and a digest of the filters the page was read with. A cursor whose signature does
not verify, whose payload is malformed, or that is presented with another sort, order or
filters is refused with ``InvalidCursorError`` (the API answers 422).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final

import asyncpg
from itsdangerous import BadSignature, Signer, want_bytes

from services.api.queries import NULLABLE_SORTS, Keyset, SortValue
from services.api.schemas import ContractListQuery, SortKey

CURSOR_VERSION: Final = 1
MAX_CURSOR_LENGTH: Final = 1024
_SALT: Final = b"hangar-bay.cursor"


class InvalidCursorError(ValueError):
    """The cursor cannot be used; the message is safe to show to the client."""


class InvalidSortValueError(InvalidCursorError):
    """A cursor's sort value does not parse for its sort key."""


@dataclass(frozen=True, slots=True)
class Cursor:
    sort: str
    order: str
    value: str | None
    contract_id: int
    filters_digest: str


def filters_digest(canonical_filters: dict[str, Any]) -> str:
    """A short digest of the filters, stable for equal filter sets (keys sorted)."""
    encoded = json.dumps(canonical_filters, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(encoded.encode()).hexdigest()[:24]


# --- sort values as cursor text ------------------------------------------------------------


def sort_value_to_text(sort: SortKey, value: SortValue | None) -> str | None:
    """The exact text form of a row's sort value, for a cursor."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float):
        return repr(value)  # the shortest string that reads back as the same float
    return str(value)


def sort_value_from_text(sort: SortKey, value: str | None) -> SortValue | None:
    if value is None:
        if sort not in NULLABLE_SORTS:
            raise InvalidSortValueError(f"{sort} is never null")
        return None
    try:
        if sort in ("date_issued", "date_expired"):
            parsed = datetime.fromisoformat(value)
            if parsed.tzinfo is None:
                raise InvalidSortValueError("cursor timestamp without a time zone")
            return parsed
        if sort in ("volume", "reward_per_m3"):
            number = float(value)
            if not math.isfinite(number):
                raise InvalidSortValueError(f"cursor {sort} is not finite")
            return number
        amount = Decimal(value)
    except (ValueError, InvalidOperation) as error:
        raise InvalidSortValueError(f"bad {sort} value in cursor") from error
    if not amount.is_finite():
        raise InvalidSortValueError(f"cursor {sort} is not finite")
    return amount


# --- the signed token ----------------------------------------------------------------------


def _b64encode(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _b64decode(text: bytes) -> bytes:
    return base64.urlsafe_b64decode(text + b"=" * (-len(text) % 4))


class _CursorSigner(Signer):
    """HMAC-SHA256 under a key derived from the secret and the cursor's salt, derived once
    rather than for every signature (``derive_key`` is itsdangerous's override point)."""

    def __init__(self, secret: bytes) -> None:
        super().__init__(secret, salt=_SALT, key_derivation="hmac", digest_method=hashlib.sha256)
        self._derived_key = super().derive_key()

    def derive_key(self, secret_key: str | bytes | None = None) -> bytes:
        if secret_key is None or want_bytes(secret_key) == self.secret_keys[-1]:
            return self._derived_key
        return super().derive_key(secret_key)


class CursorCodec:
    """Signs and verifies cursors with one key."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("the cursor secret must be at least 16 bytes")
        self._signer = _CursorSigner(secret)

    def encode(self, cursor: Cursor) -> str:
        payload = json.dumps(
            {
                "v": CURSOR_VERSION,
                "s": cursor.sort,
                "o": cursor.order,
                "k": cursor.value,
                "i": cursor.contract_id,
                "f": cursor.filters_digest,
            },
            separators=(",", ":"),
        ).encode()
        return self._signer.sign(_b64encode(payload)).decode("ascii")

    def decode(self, token: str) -> Cursor:
        if len(token) > MAX_CURSOR_LENGTH or token.count(".") != 1:
            raise InvalidCursorError("malformed cursor")
        try:
            encoded_payload = self._signer.unsign(token)
        except BadSignature as error:
            raise InvalidCursorError("cursor signature does not verify") from error
        try:
            data = json.loads(_b64decode(encoded_payload))
        except (binascii.Error, ValueError) as error:  # pragma: no cover - signed payloads only
            raise InvalidCursorError("malformed cursor") from error
        if not isinstance(data, dict) or data.get("v") != CURSOR_VERSION:
            raise InvalidCursorError("unsupported cursor version")
        sort, order, value = data.get("s"), data.get("o"), data.get("k")
        contract_id, digest = data.get("i"), data.get("f")
        if (
            not isinstance(sort, str)
            or not isinstance(order, str)
            or not (value is None or isinstance(value, str))
            or not isinstance(contract_id, int)
            or isinstance(contract_id, bool)
            or not isinstance(digest, str)
        ):
            raise InvalidCursorError("malformed cursor")
        return Cursor(sort, order, value, contract_id, digest)


# --- a list request's cursors -------------------------------------------------------------


def position_after(query: ContractListQuery, codec: CursorCodec, digest: str) -> Keyset | None:
    """The keyset ``query.cursor`` points at (``None`` on a first page); ``InvalidCursorError``
    when it is not valid for this request's sort, order and filters (``digest``)."""
    if query.cursor is None:
        return None
    cursor = codec.decode(query.cursor)
    if (cursor.sort, cursor.order) != (query.sort, query.order):
        raise InvalidCursorError(
            f"the cursor was issued for sort={cursor.sort}&order={cursor.order}"
        )
    if cursor.filters_digest != digest:
        raise InvalidCursorError("the cursor was issued for other filters")
    return Keyset(sort_value_from_text(query.sort, cursor.value), cursor.contract_id)


def cursor_after(
    query: ContractListQuery, codec: CursorCodec, digest: str, last_row: asyncpg.Record
) -> str:
    """The cursor of the page that follows ``last_row`` (a row of ``SUMMARY_COLUMNS``)."""
    return codec.encode(
        Cursor(
            sort=query.sort,
            order=query.order,
            value=sort_value_to_text(query.sort, last_row[query.sort]),
            contract_id=last_row["contract_id"],
            filters_digest=digest,
        )
    )
