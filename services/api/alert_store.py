"""Every SQL statement of stored alerts."""

from __future__ import annotations

from typing import Any

import asyncpg
import orjson
from asyncpg.pool import PoolConnectionProxy

from common.db import Contract

#: The contract's columns shown with an alert (its summary, as the contract routes list it).
CONTRACT_NAMES = tuple(
    column.name for column in Contract.__table__.columns if column.name != "source_last_modified"
)
MONEY_NAMES = frozenset({"price", "reward", "collateral", "buyout"})
_CONTRACT_JSON = (
    "json_build_object("
    + ", ".join(f"'{n}', c.{n}{'::text' if n in MONEY_NAMES else ''}" for n in CONTRACT_NAMES)
    + ")"
)

_ALERT_SELECT = f"""
SELECT a.alert_id, a.search_id, s.name AS search_name, a.contract_id, a.created_at,
       a.read_at IS NOT NULL AS read, a.throttled,
       CASE WHEN c.contract_id IS NOT NULL THEN {_CONTRACT_JSON}::text END AS contract,
       CASE WHEN d.alert_id IS NOT NULL THEN json_build_object(
           'status', d.status, 'attempts', d.attempts, 'last_error', d.last_error,
           'finished_at', d.finished_at)::text END AS webhook
FROM alerts a
JOIN saved_searches s USING (search_id)
LEFT JOIN contracts c ON c.contract_id = a.contract_id
LEFT JOIN webhook_deliveries d ON d.alert_id = a.alert_id
"""

DbConnection = asyncpg.Connection | PoolConnectionProxy


async def list_alerts(
    connection: DbConnection,
    account_id: int,
    *,
    before: int | None,
    unread_only: bool,
    limit: int,
) -> list[asyncpg.Record]:
    """Newest first, ``limit`` alerts with an id below ``before``."""
    return await connection.fetch(
        _ALERT_SELECT + " WHERE a.account_id = $1 AND ($2::bigint IS NULL OR a.alert_id < $2)"
        " AND (NOT $3 OR a.read_at IS NULL) ORDER BY a.alert_id DESC LIMIT $4",
        account_id,
        before,
        unread_only,
        limit,
    )


async def alerts_after(
    connection: DbConnection, account_id: int, after: int, limit: int
) -> list[asyncpg.Record]:
    """Oldest first, the pushed (not throttled) alerts with an id above ``after``."""
    return await connection.fetch(
        _ALERT_SELECT + " WHERE a.account_id = $1 AND a.alert_id > $2 AND NOT a.throttled"
        " ORDER BY a.alert_id LIMIT $3",
        account_id,
        after,
        limit,
    )


async def newest_alert_id(connection: DbConnection, account_id: int) -> int:
    value = await connection.fetchval(
        "SELECT coalesce(max(alert_id), 0) FROM alerts WHERE account_id = $1", account_id
    )
    return int(value)


async def unread_count(connection: DbConnection, account_id: int) -> int:
    value = await connection.fetchval(
        "SELECT count(*) FROM alerts WHERE account_id = $1 AND read_at IS NULL", account_id
    )
    return int(value)


async def mark_read(
    connection: DbConnection, account_id: int, alert_ids: list[int], up_to: int | None
) -> int:
    status = await connection.execute(
        "UPDATE alerts SET read_at = now() WHERE account_id = $1 AND read_at IS NULL"
        " AND (alert_id = ANY($2::bigint[]) OR alert_id <= $3)",
        account_id,
        alert_ids,
        up_to or 0,
    )
    return int(status.rsplit(" ", 1)[1])


def alert_json(row: asyncpg.Record) -> dict[str, Any]:
    found = dict(row)
    for name in ("contract", "webhook"):
        if found[name] is not None:
            found[name] = orjson.loads(found[name])
    return found
