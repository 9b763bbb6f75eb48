"""Every SQL statement of accounts and API keys (API and ``hangar-bay accounts``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from services.api.account_keys import NewKey, key_id_of, key_matches, new_key

DbConnection = asyncpg.Connection | PoolConnectionProxy


class AccountExistsError(ValueError):
    pass


class UnknownAccountError(LookupError):
    pass


@dataclass(frozen=True)
class KeyListing:
    account_id: int
    account: str
    key_id: str | None
    created_at: datetime | None
    revoked_at: datetime | None


async def create_account(connection: DbConnection, name: str) -> tuple[int, NewKey]:
    """A new account with its first key (the key is only ever known here)."""
    async with connection.transaction():
        account_id = await connection.fetchval(
            "INSERT INTO accounts (name) VALUES ($1) ON CONFLICT (name) DO NOTHING"
            " RETURNING account_id",
            name,
        )
        if account_id is None:
            raise AccountExistsError(f"an account named {name!r} exists")
        key = await _insert_key(connection, account_id)
    return account_id, key


async def add_key(connection: DbConnection, name: str) -> NewKey:
    account_id = await connection.fetchval("SELECT account_id FROM accounts WHERE name = $1", name)
    if account_id is None:
        raise UnknownAccountError(f"no account named {name!r}")
    return await _insert_key(connection, account_id)


async def _insert_key(connection: DbConnection, account_id: int) -> NewKey:
    key = new_key()
    await connection.execute(
        "INSERT INTO api_keys (key_id, account_id, key_hash) VALUES ($1, $2, $3)",
        key.key_id,
        account_id,
        key.key_hash,
    )
    return key


async def list_keys(connection: DbConnection) -> list[KeyListing]:
    rows = await connection.fetch(
        "SELECT a.account_id, a.name, k.key_id, k.created_at, k.revoked_at"
        " FROM accounts a LEFT JOIN api_keys k USING (account_id)"
        " ORDER BY a.name, k.created_at"
    )
    return [KeyListing(*row) for row in rows]


async def revoke_key(connection: DbConnection, key_id: str) -> bool:
    """Revoke one key (an id as listed); ``False`` when no such key is active."""
    status = await connection.execute(
        "UPDATE api_keys SET revoked_at = now() WHERE key_id = $1 AND revoked_at IS NULL",
        key_id,
    )
    return bool(status.endswith(" 1"))


async def account_of_key(connection: DbConnection, key: str) -> tuple[int, str] | None:
    """(account id, key id) of an active key, ``None`` for any other text."""
    key_id = key_id_of(key)
    if key_id is None:
        return None
    row = await connection.fetchrow(
        "SELECT account_id, key_hash FROM api_keys WHERE key_id = $1 AND revoked_at IS NULL",
        key_id,
    )
    if row is None or not key_matches(key, row["key_hash"]):
        return None
    return row["account_id"], key_id
