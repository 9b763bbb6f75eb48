"""Wakes the live alert streams of an account when the notifier commits alerts for it.

The notifier sends ``NOTIFY hangar_alerts, '<account_id>'`` in the transaction that inserts
the alerts, so the notification arrives only once they are visible. One listening connection
per API process fans it out; each stream then reads what is new from the table, so a lost
notification costs at most a heartbeat's delay (the stream also reads on every heartbeat).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Iterator

import asyncpg

ALERTS_CHANNEL = "hangar_alerts"

log = logging.getLogger(__name__)


class AlertFeed:
    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._connection: asyncpg.Connection | None = None
        self._waiters: dict[int, set[asyncio.Event]] = defaultdict(set)

    async def start(self) -> None:
        try:
            self._connection = await asyncpg.connect(self._dsn, timeout=10)
            await self._connection.add_listener(ALERTS_CHANNEL, self._notified)
        except (OSError, asyncpg.PostgresError) as error:
            # streams still poll on every heartbeat
            log.warning("alert notifications unavailable", extra={"error": repr(error)})
            self._connection = None

    async def close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await self._connection.close(timeout=5)
            self._connection = None

    def _notified(self, _connection: object, _pid: int, _channel: str, payload: object) -> None:
        for part in str(payload).split(","):
            if part.isdigit():
                for event in self._waiters.get(int(part), ()):
                    event.set()

    @contextlib.contextmanager
    def subscribe(self, account_id: int) -> Iterator[asyncio.Event]:
        """An event set whenever alerts of the account were committed."""
        event = asyncio.Event()
        self._waiters[account_id].add(event)
        try:
            yield event
        finally:
            waiters = self._waiters[account_id]
            waiters.discard(event)
            if not waiters:
                del self._waiters[account_id]
