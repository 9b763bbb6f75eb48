"""Wakes the batches that wait for the persister: one connection per notifier listens on
:data:`CONTRACTS_COMMITTED_CHANNEL`, which the persister notifies in each transaction that
writes contracts (delivered at its commit).

A notification only says "look again": the waiting batch counts its contracts in the table.
Without the listening connection (not yet connected, or lost) waits simply run out their
timeout, so the batch is looked at as often as it was before notifications existed; the
connection is opened again on a later wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import asyncpg

from common.contract_commits import CONTRACTS_COMMITTED_CHANNEL

log = logging.getLogger(__name__)

#: Least time between two attempts to open the listening connection.
RECONNECT_SECONDS = 5.0


class CommitSignal:
    """A count of the persister's commits seen, and a way to wait for the next one."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._connection: asyncpg.Connection | None = None
        self._changed = asyncio.Event()
        self._generation = 0
        self._closed = False
        self._last_attempt = -RECONNECT_SECONDS
        self._connecting: asyncio.Task[None] | None = None

    @property
    def generation(self) -> int:
        """Read it before looking at the table; :meth:`wait_after` then misses no commit."""
        return self._generation

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def listening(self) -> bool:
        return self._connection is not None and not self._connection.is_closed()

    async def start(self) -> None:
        self._last_attempt = time.monotonic()
        try:
            connection = await asyncpg.connect(self._dsn, timeout=10)
            await connection.add_listener(CONTRACTS_COMMITTED_CHANNEL, self._notified)
        except (OSError, asyncpg.PostgresError, TimeoutError) as error:
            log.warning("commit notifications unavailable", extra={"error": repr(error)})
            return
        if self._closed:
            await connection.close(timeout=5)
            return
        self._connection = connection
        # a commit between two connections was not heard: whoever waits looks again
        self._wake()

    async def wait_after(self, generation: int, timeout: float) -> None:  # noqa: ASYNC109
        """Return once a commit newer than ``generation`` was notified, the signal is closed,
        or ``timeout`` seconds have passed."""
        if self._closed or self._generation != generation:
            return
        self._reconnect_if_lost()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), timeout)

    def close_waits(self) -> None:
        """Every wait returns now and every later one at once (the notifier is stopping)."""
        self._closed = True
        self._wake()

    async def close(self) -> None:
        self.close_waits()
        if self._connecting is not None:
            await asyncio.gather(self._connecting, return_exceptions=True)
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await self._connection.close(timeout=5)
            self._connection = None

    def _notified(self, _connection: object, _pid: int, _channel: str, _payload: object) -> None:
        self._wake()

    def _wake(self) -> None:
        self._generation += 1
        self._changed.set()
        self._changed = asyncio.Event()

    def _reconnect_if_lost(self) -> None:
        if self.listening or self._closed:
            return
        if self._connecting is not None and not self._connecting.done():
            return
        if time.monotonic() - self._last_attempt < RECONNECT_SECONDS:
            return
        if self._connection is not None:
            log.warning("commit notifications lost; listening again")
            self._connection = None
        self._connecting = asyncio.create_task(self.start())
