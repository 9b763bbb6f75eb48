"""Request and response models of saved searches and alerts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from common.db import SHIP_CATEGORY_ID
from common.webhook_guard import UnsafeWebhookTargetError, parse_target
from services.api.name_schemas import ContentFilters
from services.api.schemas import ContractListQuery

#: Parameters of ``GET /v1/contracts`` that page, sort or count a list: not filters.
PAGING_PARAMETERS = frozenset({"sort", "order", "limit", "cursor", "count", "facets"})
#: The filters on what contracts hold and where that the notifier matches: ``q`` as a
#: regular expression, the others as columns of the same name (``search_store.py``), each with
#: its predicate in ``services/notifier/matching.py``. A content filter of ``GET /v1/contracts``
#: not listed here is refused rather than stored and alerted on contracts it excludes.
MATCHED_CONTENT_SCALARS = (
    "ship", "category_id", "group_id", "bpc", "min_runs", "max_runs", "min_me", "max_me",
    "min_te", "max_te", "system_id", "min_reward_per_m3", "market_group_id", "security",
)  # fmt: skip
UNMATCHED_PARAMETERS = frozenset(ContentFilters.model_fields) - {"q", *MATCHED_CONTENT_SCALARS}
_BLUEPRINT_BOUNDS = ("min_runs", "max_runs", "min_me", "max_me", "min_te", "max_te")


def _never_matching(query: ContractListQuery) -> list[str]:
    """Why no contract can ever match these filters (beyond what the contracts list's own
    schema refuses, such as empty ranges)."""
    reasons = []
    if query.status == "gone":
        reasons.append("status=gone never matches a newly listed contract")
    if query.bpc is False and any(getattr(query, name) is not None for name in _BLUEPRINT_BOUNDS):
        reasons.append("blueprint copy bounds with bpc=false (they need a blueprint copy)")
    if query.ship is False and query.category_id == SHIP_CATEGORY_ID:
        reasons.append(f"ship=false with category_id={SHIP_CATEGORY_ID} (Ship)")
    if query.min_reward_per_m3 is not None and query.type and "courier" not in query.type:
        reasons.append("min_reward_per_m3 without courier among the contract types")
    return reasons


def _only_filters(query: ContractListQuery) -> ContractListQuery:
    paging = sorted(PAGING_PARAMETERS & query.model_fields_set)
    if paging:
        raise ValueError(f"not filters (they page, sort or count a list): {', '.join(paging)}")
    never = _never_matching(query)
    if never:
        raise ValueError(f"can never match: {'; '.join(never)}")
    unmatched = sorted(name for name in UNMATCHED_PARAMETERS if getattr(query, name) is not None)
    if unmatched:
        raise ValueError(f"not matched by alerts, so not saved: {', '.join(unmatched)}")
    return query


def _acceptable_target(url: str) -> str:
    try:
        parse_target(url)
    except UnsafeWebhookTargetError as error:
        raise ValueError(f"webhook_url refused: {error}") from error
    return url


SearchFilters = Annotated[ContractListQuery, AfterValidator(_only_filters)]
WebhookUrl = Annotated[
    str, Field(min_length=1, max_length=2000), AfterValidator(_acceptable_target)
]


class SearchIn(BaseModel):
    """A saved search: the filters of ``GET /v1/contracts`` (JSON values, lists for the
    repeatable ones; sort and paging parameters are refused), validated by the same schema.
    Filters that no contract can ever satisfy together are refused."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, pattern=r"^[^\x00]*$")
    filters: SearchFilters = Field(
        description="Filters as GET /v1/contracts takes them, e.g. "
        '{"contains_type_id": [11399], "max_price": 250000000} or '
        '{"q": "rifter blueprint", "bpc": true, "min_me": 10, "system_id": 30000142}',
        examples=[
            {"contains_type_id": [11399], "max_price": 250000000},
            {"q": "rifter blueprint", "bpc": True, "min_me": 10, "system_id": 30000142},
        ],
    )
    webhook_url: WebhookUrl | None = Field(
        None, description="https URL called for each alert (Discord webhooks get their format)."
    )
    max_alerts_per_hour: int | None = Field(
        None, ge=1, le=10_000, description="Alerts beyond this per hour are kept, not pushed."
    )


class SearchOut(BaseModel):
    search_id: int
    name: str
    filters: dict[str, Any]
    webhook_url: str | None
    webhook_secret: str | None = Field(
        description="Key of the X-Hangar-Signature HMAC-SHA256 of each webhook body."
    )
    max_alerts_per_hour: int | None
    created_at: datetime
    updated_at: datetime
    failed_webhooks: int = Field(0, description="Webhook calls given up on.")


class SearchList(BaseModel):
    items: list[SearchOut]


class WebhookStatus(BaseModel):
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    last_error: str | None
    finished_at: datetime | None


class AlertOut(BaseModel):
    alert_id: int
    search_id: int
    search_name: str
    contract_id: int
    created_at: datetime
    read: bool
    throttled: bool
    contract: dict[str, Any] | None = Field(description="The contract's summary.")
    webhook: WebhookStatus | None


class AlertPage(BaseModel):
    items: list[AlertOut]
    next_cursor: str | None
    unread: int


class MarkRead(BaseModel):
    model_config = ConfigDict(extra="forbid")

    alert_ids: list[Annotated[int, Field(gt=0)]] = Field(
        default_factory=list, max_length=1000, description="These alerts."
    )
    up_to: Annotated[int, Field(gt=0)] | None = Field(
        None, description="Every alert with an id up to this one."
    )


class MarkReadResult(BaseModel):
    marked: int
