from __future__ import annotations

from pydantic import Field

from common.settings import HangarSettings


class NotifierSettings(HangarSettings):
    fetch_batch: int = Field(8, ge=1, le=256, description="Contracts batches fetched at once.")
    fetch_timeout_seconds: float = Field(
        0.2, gt=0, description="Longest wait to fill a fetch of the notifier."
    )
    ack_wait_seconds: float = Field(
        60, gt=0, description="Time to match a batch before JetStream redelivers it."
    )
    visibility_retry_seconds: float = Field(
        0.5,
        gt=0,
        description="Delay before a batch whose contracts the persister has not committed yet "
        "is looked at again when no commit notification came (and before it comes again once "
        "handed back).",
    )
    visibility_hold_seconds: float = Field(
        10,
        ge=0,
        description="How long a batch whose contracts are not all committed is held, looked at "
        "on each of the persister's commit notifications, before it is handed back to the "
        "stream; keep it well under ack_wait_seconds.",
    )
    visibility_patience_seconds: float = Field(
        600,
        ge=0,
        description="How long a batch waits for all its contracts to be committed; then the "
        "ones there are matched (the others were dead-lettered by the persister).",
    )
    database_pool_size: int = Field(4, ge=1, le=100, description="PostgreSQL connections kept.")
    public_base_url: str = Field(
        "http://127.0.0.1:8000",
        description="Base URL of the API, for the contract links of webhooks.",
    )
    webhook_allow_private_targets: bool = Field(
        False,
        description="Call webhook URLs that resolve to loopback or private addresses "
        "(on-premise use); metadata addresses stay refused.",
    )
    webhook_ca_file: str | None = Field(
        None, description="CA bundle trusted for webhook targets besides the system's (PEM)."
    )
    webhook_timeout_seconds: float = Field(
        5.0, gt=0, le=60, description="Timeout of each webhook call (connect, write, read)."
    )
    webhook_max_response_bytes: int = Field(
        64 * 1024, ge=0, description="Bytes of a webhook's response read at most."
    )
    webhook_concurrency: int = Field(16, ge=1, le=256, description="Webhook calls at once.")
    webhook_first_retry_seconds: float = Field(
        10, gt=0, description="Delay before the first retry; it doubles with each failure."
    )
    webhook_max_retry_seconds: float = Field(
        1800, gt=0, description="Longest delay between two attempts."
    )
    webhook_give_up_seconds: float = Field(
        6 * 3600,
        gt=0,
        description="After this long without success a webhook call is marked failed.",
    )
    webhook_poll_seconds: float = Field(
        1.0, gt=0, description="How often due webhook retries are looked for."
    )
