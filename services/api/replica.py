"""How far a streaming replica the API reads from is behind its primary.

What the API can see is what the replica has replayed, so the lag is the age of the oldest WAL
the replica has received but not replayed yet. PostgreSQL does not date received WAL, so each
API process dates it itself: it notes when it first saw each receive position and reports how
long ago it first saw WAL beyond what is replayed now (accurate to the interval between
checks; ``/readyz`` is polled every few seconds). That is bounded above by the age of the last
replayed commit, which alone would report an idle period as lag the moment new WAL arrives.
A replica whose WAL receiver is not streaming reports the age of its last replayed commit.
"""

from __future__ import annotations

import math
import time
from collections import deque

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

#: Seconds the read replica is behind its primary, on answers that report it.
REPLICA_LAG_HEADER = "X-Replica-Lag-Seconds"

_REPLICA_POSITION = text(
    """
    SELECT pg_is_in_recovery() AS replica,
           pg_last_wal_receive_lsn() - '0/0'::pg_lsn AS received,
           pg_last_wal_replay_lsn() - '0/0'::pg_lsn AS replayed,
           extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp())::float8
               AS last_commit_age,
           EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming') AS streaming
    """
)


class ReplicaLag:
    """One API process's view of its replica's lag (see the module's docstring)."""

    def __init__(self) -> None:
        self._unreplayed: deque[tuple[float, int]] = deque()

    async def seconds(self, connection: AsyncConnection) -> float | None:
        """Seconds the database behind ``connection`` is behind its primary; ``None`` when it
        is not a replica."""
        row = (await connection.execute(_REPLICA_POSITION)).one()
        if not row.replica:
            return None
        upper_bound = math.inf if row.last_commit_age is None else max(0.0, row.last_commit_age)
        if not row.streaming or row.received is None:
            return upper_bound
        now = time.monotonic()
        received, replayed = int(row.received), int(row.replayed or 0)
        if not self._unreplayed or received > self._unreplayed[-1][1]:
            self._unreplayed.append((now, received))
        while self._unreplayed and self._unreplayed[0][1] <= replayed:
            self._unreplayed.popleft()
        if not self._unreplayed:
            return 0.0
        return min(now - self._unreplayed[0][0], upper_bound)
