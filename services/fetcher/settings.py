from __future__ import annotations

from pydantic import Field, field_validator

from common.settings import DEFAULT_ESI_BASE_URL, HangarSettings, RegionIds, parse_id_list

APP_VERSION = "0.1.0"


class FetcherSettings(HangarSettings):
    esi_base_url: str = Field(DEFAULT_ESI_BASE_URL, description="ESI's base URL.")
    regions: RegionIds = Field(
        default_factory=list,
        description="Region ids to follow, comma-separated; empty: every region ESI lists.",
    )
    contact: str = Field(
        "hangar-bay operator (set HANGAR_CONTACT)",
        description="Who CCP can contact about this client (email preferred); sent in User-Agent.",
    )
    compatibility_date: str = Field(
        "2025-12-16",
        pattern=r"^\d{4}-\d{2}-\d{2}$",
        description="X-Compatibility-Date sent to ESI.",
    )
    request_timeout_seconds: float = Field(20, gt=0, description="Timeout of one ESI request.")
    max_attempts: int = Field(
        5, ge=1, le=20, description="Attempts of a request on transient errors."
    )
    backoff_base_seconds: float = Field(
        1.0, ge=0, description="First retry delay (doubles, jittered)."
    )
    backoff_max_seconds: float = Field(60, ge=0, description="Longest retry delay.")
    max_in_flight: int = Field(16, ge=1, le=100, description="Concurrent ESI requests per process.")
    error_limit_floor: int = Field(
        20,
        ge=1,
        le=99,
        description="Stop all requests until the window resets below this many errors left.",
    )
    enrichment_concurrency: int = Field(8, ge=1, le=100, description="Contracts enriched at once.")
    default_cache_seconds: float = Field(
        300, gt=0, description="Delay between sweeps when ESI's caching headers do not parse."
    )
    min_sweep_interval_seconds: float = Field(
        5, ge=0, description="Shortest delay between two sweeps of a region (caches expire late)."
    )
    expiry_jitter_seconds: float = Field(
        10, ge=0, description="Random delay added after a list's expiry before sweeping again."
    )
    max_resweeps: int = Field(
        3, ge=0, le=20, description="Re-sweeps of a region whose pages mixed cache generations."
    )
    poison_after: int = Field(
        5, ge=1, description="Failed enrichments of one contract before it is given up."
    )
    health_grace_seconds: float = Field(
        600,
        gt=0,
        description="How long past its planned time a region's sweep may take to complete "
        "before /healthz reports the fetcher unhealthy.",
    )
    max_batch_bytes: int = Field(
        4 * 1024 * 1024,
        ge=64 * 1024,
        description="Largest message; capped by the server's max_payload.",
    )

    @field_validator("regions", mode="before")
    @classmethod
    def _regions(cls, value: object) -> object:
        return parse_id_list(value)

    @property
    def user_agent(self) -> str:
        return f"HangarBay/{APP_VERSION} ({self.contact})"
