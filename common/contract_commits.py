"""The signal the persister sends when contracts are committed: ``NOTIFY`` on one channel,
issued inside the applying transaction, so PostgreSQL delivers it only at commit (and never
for a transaction rolled back). Listeners (the notifier) treat it as a hint to look again;
what is committed is read from the tables, never from the notification."""

from __future__ import annotations

from common.derived_fields import Executor

CONTRACTS_COMMITTED_CHANNEL = "hangar_contracts_committed"


async def announce_contracts_committed(connection: Executor) -> None:
    """Queue the notification in the caller's transaction (identical ones merge into one)."""
    await connection.execute(f"NOTIFY {CONTRACTS_COMMITTED_CHANNEL}")
