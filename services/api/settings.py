"""Settings of the read-side HTTP API (``HANGAR_API_*`` and a few ``HANGAR_*`` fields).

``cursor_secret`` is the HMAC key that signs pagination cursors. Its default is random per
process: cursors then stop working when the process restarts and are not shared by several
replicas behind one load balancer (a client gets a 422 and starts again from the first page).
Set ``HANGAR_CURSOR_SECRET`` to one value for every replica to make cursors survive both.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from services.api.account_settings import AccountApiSettings


def _random_secret() -> SecretStr:
    return SecretStr(secrets.token_urlsafe(32))


class ApiSettings(AccountApiSettings):
    """Everything the API process reads from its environment."""

    api_host: str = Field("127.0.0.1", description="Interface the HTTP server binds to.")
    api_port: int = Field(8000, ge=1, le=65535, description="Port the HTTP server listens on.")
    api_workers: int = Field(
        1,
        ge=1,
        le=64,
        description=(
            "uvicorn worker processes serving the API (each with its own connection pool of "
            "db_pool_size + db_max_overflow connections and its own /metrics)."
        ),
    )
    cursor_secret: SecretStr = Field(
        default_factory=_random_secret,
        min_length=16,
        description=(
            "HMAC key of pagination cursors. Default: random per process (cursors do not "
            "survive a restart and are not shared between replicas): set it in production."
        ),
    )
    database_read_url: str | None = Field(
        None,
        description=(
            "PostgreSQL URL of a streaming replica the API reads from (it writes nothing); "
            "default: database_url. Its replay lag is reported by /v1/regions and /readyz."
        ),
    )
    replica_max_lag_s: float = Field(
        60.0,
        gt=0,
        le=86_400,
        description="/readyz fails while the read replica is further behind than this.",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Origins allowed by CORS, comma-separated in the environment; empty: none.",
    )
    statement_timeout_ms: int = Field(
        5000, ge=1, le=600_000, description="PostgreSQL statement_timeout of every API session."
    )
    connect_timeout_s: float = Field(
        5.0, gt=0, le=60, description="Timeout of one new database connection."
    )
    readiness_timeout_s: float = Field(
        2.0, gt=0, le=30, description="How long /readyz waits for the database."
    )
    db_pool_size: int = Field(10, ge=1, le=200, description="Database connections kept open.")
    db_max_overflow: int = Field(10, ge=0, le=200, description="Extra connections under load.")
    db_pool_timeout_s: float = Field(
        10.0, gt=0, le=120, description="How long a request waits for a free connection."
    )
    count_exact_threshold: int = Field(
        10_000,
        ge=0,
        le=10_000_000,
        description=(
            "count=true counts exactly up to this many rows and returns the planner's "
            "estimate above it."
        ),
    )
    facet_max_contracts: int = Field(
        10_000,
        ge=1,
        le=1_000_000,
        description=(
            "facets=true counts over at most this many matching contracts; above it the "
            "counts are lower bounds (complete: false)."
        ),
    )
    taxonomy_cache_s: float = Field(
        300.0,
        gt=0,
        le=86_400,
        description=(
            "GET /v1/taxonomy's counts are computed at most once per this many seconds per "
            "deployment (kept in Redis, and in each process until that entry expires)."
        ),
    )
    taxonomy_timeout_ms: int = Field(
        120_000,
        ge=1,
        le=3_600_000,
        description="statement_timeout of the statement computing GET /v1/taxonomy's counts.",
    )
    cache_max_age_s: int = Field(
        30,
        ge=0,
        le=86_400,
        description="Cache-Control max-age of data that can still change (lists, stats).",
    )
    gone_cache_max_age_s: int = Field(
        3600,
        ge=0,
        le=604_800,
        description="Cache-Control max-age of a gone contract, whose data no longer changes.",
    )
    response_cache_s: float = Field(
        2.0,
        ge=0,
        le=3600,
        description=(
            "How long each API process answers a list query again from memory (0: never). "
            "At most cache_max_age_s matters to clients, who may already cache that long."
        ),
    )
    response_cache_max_bytes: int = Field(
        64 * 1024 * 1024, ge=0, description="Bound of each API process's response cache."
    )
    gzip_minimum_size: int = Field(
        1024, ge=0, description="Responses at least this large are gzip-compressed."
    )

    @field_validator("database_read_url")
    @classmethod
    def _read_url_is_postgres(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(
            ("postgresql://", "postgres://", "postgresql+asyncpg://")
        ):
            raise ValueError("must start with postgresql://")
        return value or None

    @property
    def read_database_url(self) -> str:
        """Where the API's queries go: the replica when one is configured."""
        return self.database_read_url or self.database_url

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value
