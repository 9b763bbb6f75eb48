from __future__ import annotations

from pydantic import Field

from common.settings import HangarSettings


class PersisterSettings(HangarSettings):
    fetch_batch: int = Field(
        8,
        ge=1,
        le=1000,
        description=(
            "Messages fetched (and committed) together; a contracts batch holds up to 1000 "
            "contracts, so 8 is up to 8000 contracts per transaction."
        ),
    )
    apply_concurrency: int = Field(
        2,
        ge=1,
        le=16,
        description=(
            "Fetches applied at once, each in its own transaction (as by that many persister "
            "processes): PostgreSQL then works on several cores."
        ),
    )
    fetch_timeout_seconds: float = Field(
        0.2, gt=0, description="Longest wait to fill a fetch (a partial fetch waits this long)."
    )
    ack_wait_seconds: float = Field(
        60, gt=0, description="Time to commit a fetch before JetStream redelivers it."
    )
    max_deliver: int = Field(
        5,
        ge=2,
        le=100,
        description=(
            "Deliveries before a message that keeps failing on its data is dead-lettered "
            "(an unreachable database is retried as long as it lasts)."
        ),
    )
    missing_contract_patience_seconds: float = Field(
        600,
        ge=0,
        description=(
            "How long bids wait for their contract (held up by a retry or an outage) before "
            "they are dead-lettered."
        ),
    )
    retry_delay_seconds: float = Field(5, ge=0, description="Delay before a retried message.")
    database_pool_size: int = Field(4, ge=1, le=100, description="PostgreSQL connections kept.")
