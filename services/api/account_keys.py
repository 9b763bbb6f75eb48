"""API keys: made from 32 random bytes, kept only as their SHA-256, found by a short id.

A key reads ``hb_<key_id>_<secret>``. The id (not secret) finds the row; the SHA-256 of the
whole key is compared in constant time. A key has 256 bits of entropy, so a plain SHA-256 is
as strong as a slow password hash would be, and costs nothing per request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

KEY_PREFIX = "hb"
KEY_ID_BYTES = 6
KEY_SECRET_BYTES = 32


@dataclass(frozen=True)
class NewKey:
    key_id: str
    key: str
    key_hash: bytes


def key_hash(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def new_key() -> NewKey:
    key_id = secrets.token_hex(KEY_ID_BYTES)
    key = f"{KEY_PREFIX}_{key_id}_{secrets.token_urlsafe(KEY_SECRET_BYTES)}"
    return NewKey(key_id, key, key_hash(key))


def key_id_of(key: str) -> str | None:
    """The id part of a well-formed key, ``None`` for anything else."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or len(parts[1]) != KEY_ID_BYTES * 2:
        return None
    if not all(c in "0123456789abcdef" for c in parts[1]) or len(key) > 200:
        return None
    return parts[1]


def key_matches(key: str, stored_hash: bytes) -> bool:
    return hmac.compare_digest(key_hash(key), stored_hash)
