"""Settings of the API's accounts, saved searches and alerts (``ApiSettings`` inherits them)."""

from __future__ import annotations

from pydantic import Field

from common.settings import HangarSettings


class AccountApiSettings(HangarSettings):
    api_key_requests_per_minute: int = Field(
        120, ge=1, le=1_000_000, description="Requests each API key may make per minute."
    )
    account_db_pool_size: int = Field(
        4, ge=1, le=100, description="Connections of the pool that writes searches and alerts."
    )
    max_request_body_bytes: int = Field(
        64 * 1024, ge=1024, description="Largest request body of the account routes (413 above)."
    )
    max_searches_per_account: int = Field(
        1000, ge=1, description="Saved searches one account may keep."
    )
    alert_stream_heartbeat_s: float = Field(
        15.0, gt=0, le=300, description="Interval of the heartbeats of GET /v1/alerts/stream."
    )
    webhook_allow_private_targets: bool = Field(
        False,
        description=(
            "Accept webhook URLs that resolve to loopback or private addresses (on-premise "
            "use); metadata addresses stay refused."
        ),
    )
