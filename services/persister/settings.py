from __future__ import annotations

from pydantic import Field

from common.settings import HangarSettings


class PersisterSettings(HangarSettings):
    fetch_batch: int = Field(
        32, ge=1, le=1000, description="Messages fetched (and committed) together."
    )
    fetch_timeout_seconds: float = Field(1.0, gt=0, description="Longest wait to fill a fetch.")
    ack_wait_seconds: float = Field(
        60, gt=0, description="Time to commit a fetch before JetStream redelivers it."
    )
    max_deliver: int = Field(
        5, ge=2, le=100, description="Deliveries before a failing message is dead-lettered."
    )
    retry_delay_seconds: float = Field(5, ge=0, description="Delay before a retried message.")
    database_pool_size: int = Field(4, ge=1, le=100, description="PostgreSQL connections kept.")
