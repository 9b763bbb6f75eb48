"""Wakes the batches that wait for the persister: one connection per notifier listens on
:data:`CONTRACTS_COMMITTED_CHANNEL`, which the persister notifies in each transaction that
writes contracts (delivered at its commit).

A notification only says "look again": the waiting batch counts its contracts in the table.
Without the listening connection (not yet connected, or lost) waits simply run out their
timeout, so the batch is looked at as often as it was before notifications existed; the
connection is opened again every ``RECONNECT_SECONDS`` until it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg

from common.contract_commits import CONTRACTS_COMMITTED_CHANNEL
from common.event_wait import event_set_within

log = logging.getLogger(__name__)

#: Between two attempts to open the listening connection.
RECONNECT_SECONDS = 5.0
APPLICATION_NAME = "hangar-bay-notifier-commits"


class CommitSignal:
    """A count of the persister's commits seen, and a way to wait for the next one."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._connection: asyncpg.Connection | None = None
        self._changed = asyncio.Event()
        self._generation = 0
        self._closed = asyncio.Event()
        self._retrying: asyncio.Task[None] | None = None

    @property
    def generation(self) -> int:
        """Read it before looking at the table; :meth:`wait_after` then misses no commit."""
        return self._generation

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    async def start(self) -> None:
        """Listen (or, if the database cannot be reached, keep trying in the background)."""
        if not await self._connect():
            self._keep_trying()

    async def wait_after(self, generation: int, timeout: float) -> None:  # noqa: ASYNC109
        """Return once a commit newer than ``generation`` was notified, the signal is closed,
        or ``timeout`` seconds have passed."""
        if self.closed or self._generation != generation:
            return
        await event_set_within(self._changed, timeout)

    def close_waits(self) -> None:
        """Every wait returns now and every later one at once (the notifier is stopping)."""
        self._closed.set()
        self._wake()

    async def close(self) -> None:
        self.close_waits()
        if self._retrying is not None:
            await asyncio.gather(self._retrying, return_exceptions=True)
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await self._connection.close(timeout=5)
            self._connection = None

    async def _connect(self) -> bool:
        try:
            connection = await asyncpg.connect(
                self._dsn, timeout=10, server_settings={"application_name": APPLICATION_NAME}
            )
            await connection.add_listener(CONTRACTS_COMMITTED_CHANNEL, self._notified)
        except Exception as error:  # any failure: the waits fall back to their timeout
            log.warning("commit notifications unavailable", extra={"error": repr(error)})
            return False
        if self.closed:
            with contextlib.suppress(Exception):
                await connection.close(timeout=5)
            return True
        connection.add_termination_listener(self._terminated)
        self._connection = connection
        # a commit while nobody listened was not heard: whoever waits looks again
        self._wake()
        return True

    def _terminated(self, _connection: object) -> None:
        if self.closed:
            return
        log.warning("commit notifications lost; listening again")
        self._connection = None
        self._wake()
        self._keep_trying()

    def _keep_trying(self) -> None:
        if self._retrying is None or self._retrying.done():
            self._retrying = asyncio.create_task(self._retry())

    async def _retry(self) -> None:
        while not self.closed:
            await event_set_within(self._closed, RECONNECT_SECONDS)
            if self.closed or await self._connect():
                return

    def _notified(self, _connection: object, _pid: int, _channel: str, _payload: object) -> None:
        self._wake()

    def _wake(self) -> None:
        self._generation += 1
        self._changed.set()
        self._changed = asyncio.Event()
