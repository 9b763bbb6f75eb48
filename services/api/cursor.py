"""Opaque, tamper-evident keyset cursors.

A cursor is ``base64url(json payload) "." base64url(HMAC-SHA256(payload)[:16])``. The payload
names the sort key and order, the last row's sort value (as a string, ``null`` for a row
without one) and contract id, and a digest of the filters the page was read with. A cursor
whose signature does not verify, whose payload is malformed, or that is presented with another
sort, order or filters is rejected (the API answers 422).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

CURSOR_VERSION = 1
MAX_CURSOR_LENGTH = 1024
_SIGNATURE_BYTES = 16


class InvalidCursorError(ValueError):
    """The cursor cannot be used; the message is safe to show to the client."""


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


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class CursorCodec:
    """Signs and verifies cursors with one HMAC key."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("the cursor secret must be at least 16 bytes")
        self._secret = secret

    def _sign(self, payload: bytes) -> bytes:
        return hmac.new(self._secret, payload, hashlib.sha256).digest()[:_SIGNATURE_BYTES]

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
        return f"{_b64encode(payload)}.{_b64encode(self._sign(payload))}"

    def decode(self, token: str) -> Cursor:
        if len(token) > MAX_CURSOR_LENGTH or token.count(".") != 1:
            raise InvalidCursorError("malformed cursor")
        encoded_payload, encoded_signature = token.split(".")
        try:
            payload = _b64decode(encoded_payload)
            signature = _b64decode(encoded_signature)
        except (binascii.Error, ValueError) as error:
            raise InvalidCursorError("malformed cursor") from error
        if not hmac.compare_digest(signature, self._sign(payload)):
            raise InvalidCursorError("cursor signature does not verify")
        try:
            data = json.loads(payload)
        except ValueError as error:  # pragma: no cover - only a signed payload gets here
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
