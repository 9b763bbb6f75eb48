"""Requests take the database pool's connections first come, first served.

SQLAlchemy's async pool hands connections out through an ``asyncio.Queue``: a request that
arrives just as a connection is returned takes it at once, ahead of the requests already
waiting, and a woken waiter that finds the queue empty again waits anew at the back. Under
saturation most requests then pass quickly while a few wait many times longer (a low p50 and a
high p99). A FIFO semaphore sized like the pool, taken before the pool, gives every request its
turn in order of arrival; the time waited for it is measured.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from prometheus_client import Histogram
from sqlalchemy.exc import TimeoutError as PoolTimeoutError


class ConnectionGate:
    def __init__(self, connections: int, timeout_s: float, waited: Histogram | None) -> None:
        # asyncio.Semaphore is FIFO: no acquire passes while another waits (Python >= 3.11.1).
        self._turns = asyncio.Semaphore(connections)
        self._timeout_s = timeout_s
        self._waited = waited

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Wait for this request's turn at the pool (at most the pool's timeout: then the
        pool's own ``TimeoutError``, a 503 like an exhausted pool)."""
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self._timeout_s):
                await self._turns.acquire()
        except TimeoutError as error:
            raise PoolTimeoutError(
                f"no database connection free within {self._timeout_s:g} s"
            ) from error
        if self._waited is not None:
            self._waited.observe(time.perf_counter() - started)
        try:
            yield
        finally:
            self._turns.release()
