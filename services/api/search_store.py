"""Every SQL statement of saved searches: a search's filters become typed columns (and one
row per asked type in ``saved_search_types``, or, without types, its match keys in
``saved_search_keys``), which is what the notifier matches on."""

from __future__ import annotations

import secrets
from typing import Any

import asyncpg
import orjson
from asyncpg.pool import PoolConnectionProxy

from common.search_keys import search_keys
from services.api.name_filters import word_search_params
from services.api.schemas import ContractListQuery
from services.api.search_schemas import MATCHED_CONTENT_SCALARS, SearchIn

#: Filters stored as a column of the same name.
SCALAR_FILTERS = (
    "min_price", "max_price", "min_reward", "max_reward", "min_collateral", "max_collateral",
    "min_volume", "max_volume", "issued_after", "issued_before", "expires_after",
    "expires_before", "start_location_id", "end_location_id", "issuer_id",
    "issuer_corporation_id", "include_requested", *MATCHED_CONTENT_SCALARS,
)  # fmt: skip
COLUMNS = (
    "name", "filters", "region_ids", "contract_types", *SCALAR_FILTERS, "has_type_filter",
    "title_pattern", "q_pattern", "webhook_url", "max_alerts_per_hour",
)  # fmt: skip
OUT_COLUMNS = (
    "search_id, name, filters, webhook_url, webhook_secret, max_alerts_per_hour, created_at,"
    " updated_at, (SELECT count(*) FROM webhook_deliveries d JOIN alerts a USING (alert_id)"
    " WHERE a.search_id = s.search_id AND d.status = 'failed') AS failed_webhooks"
)

DbConnection = asyncpg.Connection | PoolConnectionProxy


class TooManySearchesError(Exception):
    pass


def title_pattern(title: str) -> str:
    """An ILIKE pattern matching ``title`` as a substring (its wildcards escaped)."""
    escaped = title.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def column_values(search: SearchIn) -> list[Any]:
    query: ContractListQuery = search.filters
    stored_filters = {
        name: value
        for name, value in query.filter_fields().items()
        if name in query.model_fields_set
    }
    values: dict[str, Any] = {
        "name": search.name,
        "filters": orjson.dumps(stored_filters).decode(),
        "region_ids": query.region_id,
        "contract_types": query.type,
        **{name: getattr(query, name) for name in SCALAR_FILTERS},
        "has_type_filter": bool(query.contains_type_id),
        "title_pattern": title_pattern(query.title) if query.title is not None else None,
        # the exact test of GET /v1/contracts (its LIKE is only the index's candidate test)
        "q_pattern": word_search_params(query.q)[1] if query.q is not None else None,
        "webhook_url": search.webhook_url,
        "max_alerts_per_hour": search.max_alerts_per_hour,
    }
    return [values[name] for name in COLUMNS]


def _out(row: asyncpg.Record) -> dict[str, Any]:
    found = dict(row)
    found["filters"] = orjson.loads(found["filters"])
    return found


async def _replace_types(connection: DbConnection, search_id: int, search: SearchIn) -> None:
    await connection.execute("DELETE FROM saved_search_types WHERE search_id = $1", search_id)
    query: ContractListQuery = search.filters
    if query.contains_type_id:
        await connection.execute(
            "INSERT INTO saved_search_types (type_id, search_id, include_requested)"
            " SELECT unnest($1::bigint[]), $2, $3",
            query.contains_type_id,
            search_id,
            query.include_requested,
        )


async def _replace_keys(connection: DbConnection, search_id: int, search: SearchIn) -> None:
    """File a search without item types under its match keys (one with types is reached
    through ``saved_search_types``)."""
    await connection.execute("DELETE FROM saved_search_keys WHERE search_id = $1", search_id)
    query: ContractListQuery = search.filters
    if not query.contains_type_id:
        await connection.execute(
            "INSERT INTO saved_search_keys (match_key, search_id) SELECT unnest($1::text[]), $2",
            search_keys(query.model_dump()),
            search_id,
        )


async def create_search(
    connection: DbConnection, account_id: int, search: SearchIn, max_searches: int
) -> dict[str, Any]:
    placeholders = ", ".join(f"${n}" for n in range(3, len(COLUMNS) + 3))
    async with connection.transaction():
        # one account's creations one at a time, so that the bound holds
        await connection.execute(
            "SELECT 1 FROM accounts WHERE account_id = $1 FOR UPDATE", account_id
        )
        count = await connection.fetchval(
            "SELECT count(*) FROM saved_searches WHERE account_id = $1", account_id
        )
        if count >= max_searches:
            raise TooManySearchesError(f"an account keeps at most {max_searches} searches")
        secret = secrets.token_urlsafe(32) if search.webhook_url else None
        search_id = await connection.fetchval(
            f"INSERT INTO saved_searches (account_id, webhook_secret, {', '.join(COLUMNS)})"
            f" VALUES ($1, $2, {placeholders}) RETURNING search_id",
            account_id,
            secret,
            *column_values(search),
        )
        await _replace_types(connection, search_id, search)
        await _replace_keys(connection, search_id, search)
        row = await connection.fetchrow(
            f"SELECT {OUT_COLUMNS} FROM saved_searches s WHERE search_id = $1", search_id
        )
    assert row is not None
    return _out(row)


async def replace_search(
    connection: DbConnection, account_id: int, search_id: int, search: SearchIn
) -> dict[str, Any] | None:
    assignments = ", ".join(f"{name} = ${n}" for n, name in enumerate(COLUMNS, start=3))
    async with connection.transaction():
        found = await connection.fetchval(
            f"UPDATE saved_searches SET {assignments}, updated_at = now(),"
            " webhook_secret = CASE WHEN webhook_url IS NULL THEN NULL"
            f"  ELSE coalesce(webhook_secret, ${len(COLUMNS) + 3}) END"
            " WHERE search_id = $1 AND account_id = $2 RETURNING search_id",
            search_id,
            account_id,
            *column_values(search),
            secrets.token_urlsafe(32),
        )
        if found is None:
            return None
        await _replace_types(connection, search_id, search)
        await _replace_keys(connection, search_id, search)
        row = await connection.fetchrow(
            f"SELECT {OUT_COLUMNS} FROM saved_searches s WHERE search_id = $1", search_id
        )
    return _out(row) if row is not None else None


async def get_search(
    connection: DbConnection, account_id: int, search_id: int
) -> dict[str, Any] | None:
    row = await connection.fetchrow(
        f"SELECT {OUT_COLUMNS} FROM saved_searches s WHERE search_id = $1 AND account_id = $2",
        search_id,
        account_id,
    )
    return _out(row) if row is not None else None


async def list_searches(connection: DbConnection, account_id: int) -> list[dict[str, Any]]:
    rows = await connection.fetch(
        f"SELECT {OUT_COLUMNS} FROM saved_searches s WHERE account_id = $1 ORDER BY search_id",
        account_id,
    )
    return [_out(row) for row in rows]


async def delete_search(connection: DbConnection, account_id: int, search_id: int) -> bool:
    status = await connection.execute(
        "DELETE FROM saved_searches WHERE search_id = $1 AND account_id = $2",
        search_id,
        account_id,
    )
    return bool(status.endswith(" 1"))
