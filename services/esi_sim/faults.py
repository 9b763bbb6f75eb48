"""Fault-injection configuration of the simulator (``POST /_sim/faults`` replaces it whole).

Every fault is optional. A fault fires on a matching request with ``probability`` (default 1),
at most ``count`` times (default: no limit) since the configuration was set, and only on the
route kinds in its ``routes`` (default: the top-level ``routes``, default: all). Random draws
come from generators seeded with ``seed`` (default: the world's seed), so a configuration
replays identically.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

RouteKind = Literal["regions", "contracts", "items", "bids"]
ROUTE_KINDS: tuple[RouteKind, ...] = ("regions", "contracts", "items", "bids")


HtmlStatus = Literal[500, 502, 503, 504]
GoneStatus = Literal[204, 403, 404]


def _html_statuses() -> list[HtmlStatus]:
    return [502, 503, 504]


def _gone_statuses() -> list[GoneStatus]:
    return [204, 403, 404]


class FaultRule(BaseModel):
    """When a fault fires."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    probability: float = Field(1.0, ge=0.0, le=1.0)
    count: int | None = Field(None, ge=0, description="Fire at most this many times.")
    routes: list[RouteKind] | None = Field(None, description="Route kinds the fault applies to.")


class Html5xxFault(FaultRule):
    """A gateway error with an HTML body (``awselb/2.0`` style), counted by the error limit."""

    statuses: list[HtmlStatus] = Field(default_factory=_html_statuses, min_length=1)


class Rate429Fault(FaultRule):
    """A 429 with a ``Retry-After`` header."""

    retry_after: int = Field(5, ge=0, description="Seconds, sent as Retry-After.")


class TimeoutFault(FaultRule):
    """Sleep ``seconds`` before answering normally (set it above the client's timeout)."""

    seconds: float = Field(15.0, gt=0.0)


class ItemsGoneFault(FaultRule):
    """Items/bids of listed contracts answer 204, 403 or 404 as if accepted or expired."""

    contract_ids: list[int] = Field(
        default_factory=list, description="Only these contracts (default: any contract)."
    )
    statuses: list[GoneStatus] = Field(default_factory=_gone_statuses, min_length=1)


class PageShiftFault(FaultRule):
    """The world advances a generation just before a list page ``>= min_page`` is served, so
    that page's ``Last-Modified`` differs from the sweep's earlier pages."""

    region_ids: list[int] | None = Field(None, description="Only these regions (default: any).")
    min_page: int = Field(2, ge=1)


class FaultConfig(BaseModel):
    """The whole fault-injection configuration; the default injects nothing."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int | None = Field(None, description="Seed of the fault draws (default: world seed).")
    routes: list[RouteKind] | None = Field(None, description="Default route kinds of faults.")
    html_5xx: Html5xxFault | None = None
    error_420: FaultRule | None = None
    rate_429: Rate429Fault | None = None
    timeout: TimeoutFault | None = None
    malformed_json: FaultRule | None = None
    items_gone: ItemsGoneFault | None = None
    page_shift: PageShiftFault | None = None
