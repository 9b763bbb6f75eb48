"""How far a streaming replica the API reads from is behind its primary.

Replay lag, not receive lag: what the API can see is what the replica has replayed. When the
replica has replayed everything it received and its WAL receiver is streaming, it is current
(an idle primary writes nothing, so the last replayed commit's age says nothing then);
otherwise the lag is the age of the last commit it replayed.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

#: Seconds the read replica is behind its primary, on answers that report it.
REPLICA_LAG_HEADER = "X-Replica-Lag-Seconds"

_REPLAY_LAG = text(
    """
    SELECT CASE
        WHEN NOT pg_is_in_recovery() THEN NULL
        WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn()
             AND EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming')
            THEN 0.0
        ELSE coalesce(
            extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp())::float8,
            'Infinity'::float8)
    END
    """
)


async def replica_lag_seconds(connection: AsyncConnection) -> float | None:
    """Seconds the database behind ``connection`` is behind its primary; ``None`` when it is
    not a replica (it is the primary itself)."""
    lag = (await connection.execute(_REPLAY_LAG)).scalar_one()
    return None if lag is None else max(0.0, float(lag))
