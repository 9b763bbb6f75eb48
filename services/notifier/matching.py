"""Matching a batch of newly listed contracts against every saved search: one statement.

Searches that ask for item types are reached through ``saved_search_types`` (keyed by type),
so a batch meets only the searches its items name; the rest (searches without a type) through
their match keys (``saved_search_keys``, :mod:`common.search_keys`): a contract meets only the
searches filed under one of its values (its start location, region, words, ...) or under
``any``. Either way every filter of the search is then tested on the pair. The alerts are
inserted with ``ON CONFLICT DO NOTHING`` on (search, contract), their webhook calls queued and
their accounts notified (``pg_notify``, delivered at commit) in the same statement.

A transaction-level advisory lock serialises the inserts of every notifier: alert ids are then
committed in increasing order, which is what lets a live feed resume after an id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from common.search_keys import contract_keys_sql
from common.security_classes import security_class_sql
from common.text_search import word_keys_sql

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

#: A blueprint copy bound of a search: (column, item column, comparison).
_BLUEPRINT_BOUND_COLUMNS: Final = (
    ("min_runs", "runs", ">="),
    ("max_runs", "runs", "<="),
    ("min_me", "material_efficiency", ">="),
    ("max_me", "material_efficiency", "<="),
    ("min_te", "time_efficiency", ">="),
    ("max_te", "time_efficiency", "<="),
)
_BLUEPRINT_BOUNDS: Final = tuple(bound for bound, _, _ in _BLUEPRINT_BOUND_COLUMNS)
_BLUEPRINT_ITEM_BOUNDS: Final = "\n".join(
    f"              AND (s.{bound} IS NULL OR i.{column} {operator} s.{bound})"
    for bound, column, operator in _BLUEPRINT_BOUND_COLUMNS
)

#: Each content filter of a saved search (its columns NULL when not asked) and what a contract
#: ``b`` of the batch must then hold, as ``GET /v1/contracts`` means it: offered items only;
#: blueprint bounds all on one and the same offered blueprint copy. A new filter is one more
#: entry here (and, when it needs a value of the contract's items or places, one more column
#: of ``batch``).
CONTENT_PREDICATES: Final[dict[tuple[str, ...], str]] = {
    ("q_pattern",): "b.search_text ~ s.q_pattern",
    ("ship",): "b.is_ship = s.ship",
    ("category_id",): "s.category_id = ANY(b.category_ids)",
    ("group_id",): "s.group_id = ANY(b.group_ids)",
    ("bpc",): "b.has_bpc = s.bpc",
    _BLUEPRINT_BOUNDS: f"""b.has_bpc AND EXISTS (
            SELECT FROM contract_items AS i
            WHERE i.contract_id = b.contract_id AND i.is_included AND i.is_blueprint_copy
{_BLUEPRINT_ITEM_BOUNDS})""",
    ("system_id",): "b.start_system_id = s.system_id",
    ("min_reward_per_m3",): "b.reward_per_m3 >= s.min_reward_per_m3",
    ("market_group_id",): "s.market_group_id = ANY(b.market_group_ids)",
    ("security",): "b.start_security = s.security",
}


def _unless_not_asked(columns: tuple[str, ...], predicate: str) -> str:
    not_asked = " AND ".join(f"s.{column} IS NULL" for column in columns)
    return f"      AND ({not_asked}\n           OR {predicate})"


_CONTENT = "\n".join(
    _unless_not_asked(columns, predicate) for columns, predicate in CONTENT_PREDICATES.items()
)

_PREDICATES = f"""s.created_at <= $2
      AND (cardinality(s.region_ids) = 0 OR b.region_id = ANY(s.region_ids))
      AND (cardinality(s.contract_types) = 0 OR b.type = ANY(s.contract_types))
{_BOUNDS}
{_CONTENT}"""

MATCH_STATEMENT = f"""
WITH batch AS MATERIALIZED (
    -- what the predicates read of a contract and its places, once per contract
    SELECT c.*, st.system_id AS start_system_id,
        {security_class_sql("sy.security_status")} AS start_security,
        c.offered_category_ids AS category_ids, c.offered_group_ids AS group_ids,
        c.offered_market_group_ids AS market_group_ids,
        {word_keys_sql("c.search_text")} AS word_keys
    FROM contracts AS c
    LEFT JOIN stations AS st ON st.station_id = c.start_location_id
    LEFT JOIN solar_systems AS sy ON sy.system_id = st.system_id
    WHERE c.contract_id = ANY($1::bigint[]) AND c.status = 'outstanding'
), by_type AS (
    SELECT DISTINCT s.search_id, s.account_id, b.contract_id, s.max_alerts_per_hour
    FROM batch b
    JOIN contract_items i ON i.contract_id = b.contract_id
    JOIN saved_search_types t ON t.type_id = i.type_id AND (i.is_included OR t.include_requested)
    JOIN saved_searches s ON s.search_id = t.search_id
    WHERE {_PREDICATES}
), contract_keys AS (
    SELECT b.contract_id, k.match_key
    FROM batch b
    CROSS JOIN LATERAL (
        {contract_keys_sql()}
    ) AS k(match_key)
), without_type AS (
    SELECT s.search_id, s.account_id, b.contract_id, s.max_alerts_per_hour
    FROM contract_keys k
    JOIN saved_search_keys sk ON sk.match_key = k.match_key
    JOIN saved_searches s ON s.search_id = sk.search_id
    JOIN batch b ON b.contract_id = k.contract_id
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


@dataclass(frozen=True)
class Visible:
    """What the persister has committed of a batch's contracts."""

    count: int
    #: Those not seen before the batch's page was read: the ones to match.
    first_seen: list[int]


async def visible_contracts(
    connection: DbConnection, contract_ids: list[int], fetched_at: datetime
) -> Visible:
    """Which of the contracts the persister has committed, and which of them no page read
    before ``fetched_at`` listed (a contract an earlier batch listed was matched with it)."""
    row = await connection.fetchrow(
        "SELECT count(*) AS visible,"
        " coalesce(array_agg(contract_id) FILTER (WHERE first_seen_at >= $2), '{}') AS first"
        " FROM contracts WHERE contract_id = ANY($1::bigint[])",
        contract_ids,
        fetched_at,
    )
    assert row is not None
    return Visible(int(row["visible"]), list(row["first"]))


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
