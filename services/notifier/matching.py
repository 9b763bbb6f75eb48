"""Matching a batch of newly listed contracts against every saved search: one statement.

Searches that ask for item types are reached through ``saved_search_types`` (keyed by type),
so a batch meets only the searches its items name; the rest (searches without a type) are
tried against every contract of the batch on their typed columns. The alerts are inserted
with ``ON CONFLICT DO NOTHING`` on (search, contract), their webhook calls queued and their
accounts notified (``pg_notify``, delivered at commit) in the same statement.

A transaction-level advisory lock serialises the inserts of every notifier: alert ids are then
committed in increasing order, which is what lets a live feed resume after an id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg
from asyncpg.pool import PoolConnectionProxy

ALERTS_CHANNEL = "hangar_alerts"
#: Key of the advisory lock that orders alert inserts.
ALERT_INSERT_LOCK = 0x68616E67  # "hang"
ACCOUNTS_PER_NOTIFICATION = 500

DbConnection = asyncpg.Connection | PoolConnectionProxy

_BOUNDS = "\n".join(
    f"      AND (s.{bound} IS NULL OR b.{column} {operator} s.{bound})"
    for bound, column, operator in (
        ("min_price", "price", ">="),
        ("max_price", "price", "<="),
        ("min_reward", "reward", ">="),
        ("max_reward", "reward", "<="),
        ("min_collateral", "collateral", ">="),
        ("max_collateral", "collateral", "<="),
        ("min_volume", "volume", ">="),
        ("max_volume", "volume", "<="),
        ("issued_after", "date_issued", ">="),
        ("issued_before", "date_issued", "<"),
        ("expires_after", "date_expired", ">="),
        ("expires_before", "date_expired", "<"),
        ("start_location_id", "start_location_id", "="),
        ("end_location_id", "end_location_id", "="),
        ("issuer_id", "issuer_id", "="),
        ("issuer_corporation_id", "issuer_corporation_id", "="),
        ("title_pattern", "title", "ILIKE"),
    )
)

_PREDICATES = f"""s.created_at <= $2
      AND (cardinality(s.region_ids) = 0 OR b.region_id = ANY(s.region_ids))
      AND (cardinality(s.contract_types) = 0 OR b.type = ANY(s.contract_types))
{_BOUNDS}"""

MATCH_STATEMENT = f"""
WITH batch AS MATERIALIZED (
    SELECT * FROM contracts WHERE contract_id = ANY($1::bigint[]) AND status = 'outstanding'
), by_type AS (
    SELECT DISTINCT s.search_id, s.account_id, b.contract_id, s.max_alerts_per_hour
    FROM batch b
    JOIN contract_items i ON i.contract_id = b.contract_id
    JOIN saved_search_types t ON t.type_id = i.type_id AND (i.is_included OR t.include_requested)
    JOIN saved_searches s ON s.search_id = t.search_id
    WHERE {_PREDICATES}
), without_type AS (
    SELECT s.search_id, s.account_id, b.contract_id, s.max_alerts_per_hour
    FROM saved_searches s JOIN batch b ON true
    WHERE NOT s.has_type_filter
      AND {_PREDICATES}
), matched AS (
    SELECT u.*, row_number() OVER (PARTITION BY u.search_id ORDER BY u.contract_id) AS nth
    FROM (SELECT * FROM by_type UNION ALL SELECT * FROM without_type) AS u
), inserted AS (
    INSERT INTO alerts (account_id, search_id, contract_id, throttled)
    SELECT m.account_id, m.search_id, m.contract_id,
           m.max_alerts_per_hour IS NOT NULL AND m.nth + (
               SELECT count(*) FROM alerts a
               WHERE a.search_id = m.search_id AND NOT a.throttled
                 AND a.created_at > now() - interval '1 hour'
           ) > m.max_alerts_per_hour
    FROM matched m
    ORDER BY m.search_id, m.contract_id
    ON CONFLICT (search_id, contract_id) DO NOTHING
    RETURNING alert_id, account_id, search_id, throttled
), queued AS (
    INSERT INTO webhook_deliveries (alert_id, url)
    SELECT i.alert_id, s.webhook_url
    FROM inserted i JOIN saved_searches s ON s.search_id = i.search_id
    WHERE s.webhook_url IS NOT NULL AND NOT i.throttled
    RETURNING alert_id
), notified AS (
    SELECT pg_notify('{ALERTS_CHANNEL}', string_agg(account_id::text, ','))
    FROM (
        SELECT account_id, row_number() OVER () / {ACCOUNTS_PER_NOTIFICATION} AS chunk
        FROM (SELECT DISTINCT account_id FROM inserted WHERE NOT throttled) AS accounts
    ) AS numbered
    GROUP BY chunk
)
SELECT (SELECT count(*) FROM inserted) AS alerts,
       (SELECT count(*) FROM inserted WHERE throttled) AS throttled,
       (SELECT count(*) FROM queued) AS webhooks,
       (SELECT count(*) FROM notified) AS notifications
"""


@dataclass(frozen=True)
class MatchResult:
    alerts: int
    throttled: int
    webhooks: int


async def visible_contracts(connection: DbConnection, contract_ids: list[int]) -> int:
    """How many of the contracts the persister has committed."""
    value = await connection.fetchval(
        "SELECT count(*) FROM contracts WHERE contract_id = ANY($1::bigint[])", contract_ids
    )
    return int(value)


async def match_contracts(
    connection: DbConnection, contract_ids: list[int], received_at: datetime
) -> MatchResult:
    """Record the alerts of these contracts for every search saved before ``received_at``
    (when the stream received them: a replay of old messages alerts no newer search)."""
    async with connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock($1)", ALERT_INSERT_LOCK)
        row = await connection.fetchrow(MATCH_STATEMENT, contract_ids, received_at)
    assert row is not None
    return MatchResult(row["alerts"], row["throttled"], row["webhooks"])
