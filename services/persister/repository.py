"""All SQL of the write side: set-based merges of batches into the read model.

Every statement is idempotent and order-safe: a row only changes when the message carries a
newer ESI generation than the row holds, and items and bids (which never change once issued)
are insert-only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import asyncpg
from asyncpg.pool import PoolConnectionProxy
from sqlalchemy import FromClause
from sqlalchemy.dialects import postgresql

from common.db import (
    CONTRACT_BOOKKEEPING_COLUMNS,
    CONTRACT_COLUMNS,
    CONTRACT_DERIVED_COLUMNS,
    ITEM_COLUMNS,
    Contract,
    ContractItem,
)
from common.derived_fields import DERIVED_VALUES, derivation, lock_reference_data
from common.messages import BidsBatch, ContractsBatch, ContractsDelisted, RegionSweep
from common.stream import StreamLimits
from services.persister.contract_rows import (
    INCOMING_CONTRACT_COLUMNS,
    INCOMING_ITEM_COLUMNS,
    MONEY_COLUMNS,
    ContractRows,
    ItemOwnershipError,
    contract_rows,
)

#: A plain connection or one borrowed from a pool.
DbConnection = asyncpg.Connection | PoolConnectionProxy


class MissingContractsError(Exception):
    """Bids arrived for contracts the database does not hold yet (retry later)."""


@dataclass(frozen=True)
class ApplyResult:
    contracts_written: int = 0
    items_written: int = 0
    bids_written: int = 0
    contracts_marked_gone: int = 0

    def __add__(self, other: ApplyResult) -> ApplyResult:
        return ApplyResult(
            self.contracts_written + other.contracts_written,
            self.items_written + other.items_written,
            self.bids_written + other.bids_written,
            self.contracts_marked_gone + other.contracts_marked_gone,
        )

    @property
    def rows(self) -> int:
        return self.contracts_written + self.items_written + self.bids_written


#: Staging tables: rows are COPYed in, then merged set-based (faster than binding arrays).
_POSTGRESQL = postgresql.dialect()  # type: ignore[no-untyped-call]


def _staging_columns(table: FromClause, extra: str = "") -> str:
    """A staging table's columns: the table's own that a message carries, money as text
    (see ``money_text``)."""
    columns = [
        f"{column.name} "
        + ("text" if column.name in MONEY_COLUMNS else column.type.compile(_POSTGRESQL))
        for column in table.columns
        if column.name not in CONTRACT_BOOKKEEPING_COLUMNS
        and column.name not in CONTRACT_DERIVED_COLUMNS
    ]
    return ", ".join(columns) + extra


_INCOMING_EXTRA = ", seen_at timestamptz, source_last_modified timestamptz"
_STAGING = f"""
CREATE TEMP TABLE IF NOT EXISTS incoming_contracts (
    {_staging_columns(Contract.__table__, _INCOMING_EXTRA)}
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS incoming_items (
    {_staging_columns(ContractItem.__table__)}
) ON COMMIT DELETE ROWS;
TRUNCATE incoming_contracts, incoming_items;
"""

_UPSERT_CONTRACTS = f"""
-- The batch reads its contracts' delisting notes (below; the statement sees them as they were
-- before it) and removes them: a contract is published in one batch only, and any later
-- delisting finds the contract itself.
-- The derived fields come from the staged items and the reference data (see
-- common.derived_fields), so each row is written once.
WITH consumed_notes AS (
    DELETE FROM contract_delistings AS t USING incoming_contracts AS n
    WHERE t.contract_id = n.contract_id
),
{derivation("SELECT contract_id FROM incoming_contracts", "incoming_contracts", "incoming_items")}
INSERT INTO contracts AS c (
    {", ".join(CONTRACT_COLUMNS)},
    {", ".join(column for column, _ in DERIVED_VALUES)})
-- in the order of CONTRACT_COLUMNS, then the derived fields:
SELECT n.contract_id, n.region_id, n.type, n.issuer_id, n.issuer_corporation_id,
    n.date_issued, n.date_expired, n.price::numeric, n.reward::numeric, n.collateral::numeric,
    n.buyout::numeric, n.volume,
    n.days_to_complete, n.start_location_id, n.end_location_id, n.for_corporation, n.title,
    CASE WHEN s.newer AND s.listed THEN 'outstanding'
         WHEN d.delisted OR s.newer THEN 'gone' ELSE 'outstanding' END,
    n.seen_at,
    GREATEST(n.seen_at, t.last_seen_at, CASE WHEN s.newer AND s.listed THEN s.swept_at END),
    CASE WHEN s.newer AND s.listed THEN NULL WHEN d.delisted THEN t.gone_at
         WHEN s.newer THEN s.generation END,
    CASE WHEN s.newer AND s.listed THEN s.generation ELSE d.source_last_modified END,
    {", ".join(f"v.{name}" for _, name in DERIVED_VALUES)}
FROM incoming_contracts AS n
JOIN computed AS v ON v.contract_id = n.contract_id
-- A batch applied after a newer delisting or sweep of its region (redelivered late, applied
-- beside it, or by a replay's parallel applies): the row is what applying them in stream
-- order would have made. The delisting first (it left a note, having found no contract):
LEFT JOIN LATERAL (
    SELECT t.contract_id, t.gone_at, t.source_last_modified, t.last_seen_at
    FROM contract_delistings AS t
    WHERE t.contract_id = n.contract_id AND t.region_id = n.region_id
      AND t.gone_at > n.source_last_modified
    ORDER BY t.gone_at LIMIT 1
) AS t ON true
CROSS JOIN LATERAL (
    SELECT t.contract_id IS NOT NULL AS delisted,
           GREATEST(n.source_last_modified, t.source_last_modified) AS source_last_modified
) AS d
-- then the region's newest sweep, if newer still:
LEFT JOIN LATERAL (
    SELECT r.generation, r.swept_at, r.generation > d.source_last_modified AS newer,
           -- only for late rows: the listing can hold a whole region's ids
           CASE WHEN r.generation > d.source_last_modified
                THEN n.contract_id = ANY(r.contract_ids) END AS listed
    FROM region_sweeps AS r WHERE r.region_id = n.region_id
    -- a sweep recorded without its listing (before sweeps kept it) cannot decide: the next does
      AND r.contract_ids IS NOT NULL
) AS s ON true
ON CONFLICT (contract_id) DO UPDATE SET
    region_id = EXCLUDED.region_id, type = EXCLUDED.type, issuer_id = EXCLUDED.issuer_id,
    issuer_corporation_id = EXCLUDED.issuer_corporation_id,
    date_issued = EXCLUDED.date_issued, date_expired = EXCLUDED.date_expired,
    price = EXCLUDED.price, reward = EXCLUDED.reward, collateral = EXCLUDED.collateral,
    buyout = EXCLUDED.buyout, volume = EXCLUDED.volume,
    days_to_complete = EXCLUDED.days_to_complete,
    start_location_id = EXCLUDED.start_location_id, end_location_id = EXCLUDED.end_location_id,
    for_corporation = EXCLUDED.for_corporation, title = EXCLUDED.title,
    status = CASE WHEN c.gone_at IS NOT NULL AND c.gone_at < EXCLUDED.source_last_modified
                  THEN 'outstanding' ELSE c.status END,
    gone_at = CASE WHEN c.gone_at IS NOT NULL AND c.gone_at < EXCLUDED.source_last_modified
                   THEN NULL ELSE c.gone_at END,
    first_seen_at = LEAST(c.first_seen_at, EXCLUDED.first_seen_at),
    last_seen_at = GREATEST(c.last_seen_at, EXCLUDED.last_seen_at),
    source_last_modified = EXCLUDED.source_last_modified,
    {", ".join(f"{column} = EXCLUDED.{column}" for column, _ in DERIVED_VALUES)}
WHERE c.source_last_modified < EXCLUDED.source_last_modified
"""

_INSERT_ITEMS = f"""
INSERT INTO contract_items ({", ".join(ITEM_COLUMNS)})
SELECT {", ".join(ITEM_COLUMNS)}
FROM incoming_items
ON CONFLICT (record_id) DO NOTHING
"""

_INSERT_BIDS = """
INSERT INTO contract_bids (bid_id, contract_id, amount, date_bid)
SELECT n.bid_id, n.contract_id, n.amount, n.date_bid
FROM unnest($1::bigint[], $2::bigint[], $3::numeric[], $4::timestamptz[])
    AS n(bid_id, contract_id, amount, date_bid)
ON CONFLICT (bid_id) DO NOTHING
"""

_FOREIGN_ITEMS = """
SELECT n.record_id, n.contract_id, i.contract_id AS owner
FROM incoming_items AS n
JOIN contract_items AS i USING (record_id)
WHERE i.contract_id <> n.contract_id
LIMIT 10
"""

_MISSING_CONTRACTS = """
SELECT n.id FROM unnest($1::bigint[]) AS n(id)
WHERE NOT EXISTS (SELECT 1 FROM contracts c WHERE c.contract_id = n.id)
"""

_RECORD_SWEEP = """
INSERT INTO region_sweeps AS s (region_id, generation, swept_at, contract_count, contract_ids)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (region_id) DO UPDATE SET
    generation = EXCLUDED.generation, swept_at = EXCLUDED.swept_at,
    contract_count = EXCLUDED.contract_count, contract_ids = EXCLUDED.contract_ids
WHERE s.generation < EXCLUDED.generation
RETURNING region_id
"""

_MARK_GONE = """
UPDATE contracts AS c SET status = 'gone', gone_at = $2
WHERE c.region_id = $1 AND c.status = 'outstanding' AND c.source_last_modified < $2
  AND NOT EXISTS (SELECT 1 FROM unnest($3::bigint[]) AS l(id) WHERE l.id = c.contract_id)
"""

_MARK_SEEN = """
UPDATE contracts AS c SET
    last_seen_at = GREATEST(c.last_seen_at, $3), source_last_modified = $2,
    status = 'outstanding', gone_at = NULL
FROM unnest($4::bigint[]) AS l(id)
WHERE c.contract_id = l.id AND c.region_id = $1 AND c.source_last_modified < $2
"""


_MARK_DELISTED = """
UPDATE contracts AS c SET
    status = 'gone', gone_at = $2,
    last_seen_at = GREATEST(c.last_seen_at, $4),
    source_last_modified = GREATEST(c.source_last_modified, $3)
FROM unnest($5::bigint[]) AS l(id)
WHERE c.contract_id = l.id AND c.region_id = $1 AND c.status = 'outstanding'
  AND c.source_last_modified < $2
"""


#: What a delisting could not mark because the contract is not there yet: its batch, applied
#: later, reads it (the earliest disappearance wins, as in stream order).
_NOTE_DELISTINGS = """
INSERT INTO contract_delistings (
    contract_id, region_id, gone_at, source_last_modified, last_seen_at)
SELECT l.id, $1, $2, $3, $4 FROM unnest($5::bigint[]) AS l(id)
WHERE NOT EXISTS (SELECT 1 FROM contracts AS c WHERE c.contract_id = l.id)
ON CONFLICT (contract_id, gone_at) DO NOTHING
"""

#: How long a delisting's note waits for its batch: no batch older than the stream keeps can
#: come.
DELISTING_NOTE_LIFETIME = timedelta(seconds=StreamLimits().max_age_seconds)

#: Notes no batch will read: their contract's batch is older than the stream keeps (a contract
#: delisted before it was ever enriched has no batch at all).
_PRUNE_DELISTINGS = """
DELETE FROM contract_delistings WHERE region_id = $1 AND gone_at < $2
"""


#: First key of the region locks (``pg_advisory_xact_lock(int, int)``): "HB" + 1.
REGION_LOCK_CLASS = 0x4842_0001
_LOCK_SHARED = "SELECT pg_advisory_xact_lock_shared($1::int, $2::int)"
_LOCK_EXCLUSIVE = "SELECT pg_advisory_xact_lock($1::int, $2::int)"


async def lock_regions(
    connection: DbConnection,
    *,
    shared: Iterable[int] = (),
    exclusive: Iterable[int] = (),
) -> None:
    """Transaction locks that order contracts against sweeps of the same region.

    A contracts batch reads the region's newest sweep to decide whether a contract it brings
    is still listed, and a sweep marks gone what it does not list: run concurrently (two
    fetches at once, or several persisters), neither would see the other's uncommitted rows,
    and a contract the sweep no longer lists would stay outstanding. So contracts batches hold
    their region shared (they run side by side) and sweeps and delistings exclusive: each
    waits for the other to commit, and its statements then see it. Taken in region order;
    taking one again in the same transaction costs a round trip and nothing else.
    """
    wanted = set(exclusive)
    for region_id in sorted(wanted | set(shared)):
        statement = _LOCK_EXCLUSIVE if region_id in wanted else _LOCK_SHARED
        # Region ids are 8-digit numbers; a key shared by two regions would only make them wait
        await connection.execute(statement, REGION_LOCK_CLASS, region_id % 2**31)


def _money(value: float | None) -> Decimal | None:
    return None if value is None else Decimal(repr(value))


async def write_contract_rows(connection: DbConnection, rows: ContractRows) -> ApplyResult:
    """Upsert contracts and insert their items; the caller owns the transaction."""
    if not rows.contracts:
        return ApplyResult()
    await lock_regions(connection, shared=rows.region_ids)
    await connection.execute(_STAGING)
    await connection.copy_records_to_table(
        "incoming_contracts", records=rows.contracts, columns=INCOMING_CONTRACT_COLUMNS
    )
    if rows.items:
        await connection.copy_records_to_table(
            "incoming_items", records=rows.items, columns=INCOMING_ITEM_COLUMNS
        )
    # After the region locks, before reading the reference data the derived fields use.
    await lock_reference_data(connection, exclusive=False)
    status = await connection.execute(_UPSERT_CONTRACTS)
    items_written = 0
    if rows.items:
        items_written = _rowcount(await connection.execute(_INSERT_ITEMS))
        if items_written < len(rows.items):
            await _check_item_ownership(connection)
    return ApplyResult(contracts_written=_rowcount(status), items_written=items_written)


async def apply_contracts(
    connection: DbConnection, batches: Sequence[ContractsBatch]
) -> ApplyResult:
    """Upsert contracts and insert their items; the caller owns the transaction."""
    return await write_contract_rows(connection, contract_rows(batches))


async def apply_bids(connection: DbConnection, batches: Sequence[BidsBatch]) -> ApplyResult:
    bids: dict[int, tuple[int, Decimal | None, datetime]] = {}
    for batch in batches:
        for auction in batch.auctions:
            for bid in auction.bids:
                bids[bid.bid_id] = (auction.contract_id, _money(bid.amount), bid.date_bid)
    if not bids:
        return ApplyResult()
    contract_ids = sorted({contract_id for contract_id, _, _ in bids.values()})
    missing = await connection.fetch(_MISSING_CONTRACTS, contract_ids)
    if missing:
        ids = ", ".join(str(row["id"]) for row in missing[:10])
        raise MissingContractsError(f"bids for contracts not in the database yet: {ids}")
    status = await connection.execute(
        _INSERT_BIDS,
        list(bids),
        [v[0] for v in bids.values()],
        [v[1] for v in bids.values()],
        [v[2] for v in bids.values()],
    )
    return ApplyResult(bids_written=_rowcount(status))


async def apply_sweep(connection: DbConnection, sweep: RegionSweep) -> ApplyResult:
    """Mark gone what a newer complete sweep no longer lists; refresh what it lists."""
    await lock_regions(connection, exclusive={sweep.region_id})
    recorded = await connection.fetchval(
        _RECORD_SWEEP,
        sweep.region_id,
        sweep.generation,
        sweep.swept_at,
        len(sweep.contract_ids),
        sweep.contract_ids,
    )
    if recorded is None:
        return ApplyResult()  # an older or already applied generation changes nothing
    gone = await connection.execute(
        _MARK_GONE, sweep.region_id, sweep.generation, sweep.contract_ids
    )
    await connection.execute(
        _MARK_SEEN, sweep.region_id, sweep.generation, sweep.swept_at, sweep.contract_ids
    )
    return ApplyResult(contracts_marked_gone=_rowcount(gone))


async def _check_item_ownership(connection: DbConnection) -> None:
    """Items already present must belong to the same contract: items never move."""
    foreign = await connection.fetch(_FOREIGN_ITEMS)
    if foreign:
        details = ", ".join(
            f"record {r['record_id']} of contract {r['contract_id']} belongs to {r['owner']}"
            for r in foreign
        )
        raise ItemOwnershipError(f"item records already held by other contracts: {details}")


async def apply_delisted(connection: DbConnection, delisted: ContractsDelisted) -> ApplyResult:
    """Mark gone, as of the delisting generation, what a newer sweep stopped listing."""
    await lock_regions(connection, exclusive={delisted.region_id})
    arguments = (
        delisted.region_id, delisted.generation, delisted.previous_generation,
        delisted.previous_swept_at, delisted.contract_ids,
    )  # fmt: skip
    gone = await connection.execute(_MARK_DELISTED, *arguments)
    if _rowcount(gone) < len(delisted.contract_ids):
        await connection.execute(_NOTE_DELISTINGS, *arguments)
        await connection.execute(
            _PRUNE_DELISTINGS, delisted.region_id, delisted.generation - DELISTING_NOTE_LIFETIME
        )
    return ApplyResult(contracts_marked_gone=_rowcount(gone))


def _rowcount(status: str) -> int:
    """The row count of an asyncpg command status such as ``INSERT 0 12``."""
    tail = status.rsplit(" ", 1)[-1]
    return int(tail) if tail.isdigit() else 0
