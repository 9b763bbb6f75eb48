"""Settings shared by every process: read from ``HANGAR_*`` environment variables and ``.env``.

Each service subclasses :class:`HangarSettings` where it needs fields of its own. Settings are
built in a factory or command, passed down, and never kept as a module global.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/hangar_bay"
DEFAULT_NATS_URL = "nats://127.0.0.1:4222"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_ESI_BASE_URL = "https://esi.evetech.net"


class HangarSettings(BaseSettings):
    """Connection settings every process needs."""

    model_config = SettingsConfigDict(
        env_prefix="HANGAR_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
    )

    database_url: str = Field(
        DEFAULT_DATABASE_URL,
        description="PostgreSQL URL (postgresql://user:password@host:port/database).",
    )
    nats_url: str = Field(DEFAULT_NATS_URL, description="NATS server URL(s), comma-separated.")
    redis_url: str = Field(DEFAULT_REDIS_URL, description="Redis URL for the fetcher's state.")
    name_prefix: str = Field(
        "hangar",
        pattern=r"^[A-Za-z0-9_-]{1,32}$",
        description=(
            "Prefix of the JetStream stream, consumer and subject names, so that several "
            "deployments or test runs can share one NATS server."
        ),
    )
    log_level: str = Field("INFO", description="Log level (DEBUG, INFO, WARNING, ERROR).")
    log_json: bool | None = Field(
        None, description="JSON logs; default: JSON unless standard error is a terminal."
    )
    stream_replicas: int = Field(
        1,
        ge=1,
        le=5,
        description=(
            "Replicas of the JetStream streams and their consumers: 1 on a single server, "
            "3 on a NATS cluster of three or more nodes."
        ),
    )
    metrics_port: int = Field(
        0, ge=0, le=65535, description="Port of the /metrics and /healthz server (0: none)."
    )

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: str) -> str:
        if not value.startswith(("postgresql://", "postgres://", "postgresql+asyncpg://")):
            raise ValueError("must start with postgresql://")
        return value


def parse_id_list(value: object) -> object:
    """Accept ``"1,2,3"`` (environment) as well as a list for integer-list settings."""
    if isinstance(value, str):
        return [int(part) for part in value.replace(" ", "").split(",") if part]
    if isinstance(value, int):
        return [value]
    return value


RegionIds = Annotated[list[int], NoDecode]
