"""The signal the persister sends when contracts are committed: ``NOTIFY`` on one channel,
issued inside the applying transaction, so PostgreSQL delivers it only at commit (and never
for a transaction rolled back). Listeners (the notifier) treat it as a hint to look again;
what is committed is read from the tables, never from the notification."""

from __future__ import annotations

from typing import Protocol

CONTRACTS_COMMITTED_CHANNEL = "hangar_contracts_committed"


class _Executes(Protocol):
    async def execute(self, query: str, *args: object) -> str: ...


async def announce_contracts_committed(connection: _Executes) -> None:
    """Queue the notification in the caller's transaction (identical ones merge into one)."""
    await connection.execute(f"NOTIFY {CONTRACTS_COMMITTED_CHANNEL}")
