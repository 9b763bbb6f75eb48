"""The API's request and response models (pydantic v2); they are also its OpenAPI schema.

Conventions of every response:

* money (``price``, ``reward``, ``collateral``, ``buyout``, bid ``amount``) is a JSON **string**
  holding the exact decimal with two places (``"1500000.00"``): the database stores
  ``numeric(20, 2)`` and ISK amounts above 2**53 would lose cents as JSON floats. Money query
  parameters accept any decimal number.
* ``volume`` (a float in ESI and in the database) is a JSON number.
* timestamps are ISO-8601 in UTC with a ``Z`` suffix; timestamp query parameters accept
  ISO-8601 and are read as UTC when they carry no offset.
* ids are 64-bit integers (JSON numbers).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from services.api.name_schemas import ContentFilters, ContractNames, Facets, ItemNames

MAX_ID = 2**63 - 1
MAX_LIST_VALUES = 100
MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 50

PositiveId = Annotated[int, Field(gt=0, le=MAX_ID)]
ContractTypeName = Annotated[str, Field(pattern=r"^[a-z_]{1,32}$")]
MAX_FILTER_AMOUNT = 10**18
# Documented as what it is on the wire, a number (the default schema of Decimal adds an
# unconstrained string branch that would let any text pass for valid).
MoneyFilter = Annotated[
    Decimal,
    Field(ge=0, lt=Decimal(MAX_FILTER_AMOUNT), allow_inf_nan=False),
    WithJsonSchema(
        {"type": "number", "minimum": 0, "exclusiveMaximum": float(MAX_FILTER_AMOUNT)},
        mode="validation",
    ),
]
VolumeFilter = Annotated[float, Field(ge=0, lt=1e18, allow_inf_nan=False)]


_ISO_DATE_START = re.compile(r"\d{4}-")


def _iso_text(value: object) -> object:
    """Timestamp parameters are ISO-8601 text: refuse the numbers pydantic reads as Unix time."""
    if isinstance(value, str) and not _ISO_DATE_START.match(value):
        raise ValueError("expected an ISO-8601 timestamp such as 2025-01-01T00:00:00Z")
    return value


def _as_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError as error:  # 0001-01-01T00:00+01:00 is before year 1 in UTC
        raise ValueError("timestamp out of range") from error


UtcFilter = Annotated[datetime, BeforeValidator(_iso_text), AfterValidator(_as_utc)]
Money = Annotated[
    Decimal,
    WithJsonSchema(
        {"type": "string", "pattern": r"^-?\d+\.\d{2}$", "examples": ["1500000.00"]},
        mode="serialization",
    ),
]
StatusFilter = Literal["outstanding", "gone", "all"]
SortKey = Literal["price", "date_issued", "date_expired", "volume", "reward", "reward_per_m3"]
SortOrder = Literal["asc", "desc"]


class ContractListQuery(ContentFilters):
    """Query parameters of ``GET /v1/contracts``; unknown parameters are rejected."""

    model_config = ConfigDict(extra="forbid")

    region_id: list[PositiveId] = Field(
        default_factory=list,
        max_length=MAX_LIST_VALUES,
        description="Only these regions (repeat the parameter for several).",
        examples=[[10000002]],
    )
    type: list[ContractTypeName] = Field(
        default_factory=list,
        max_length=MAX_LIST_VALUES,
        description="Only these contract types: item_exchange, auction, courier, loan, ...",
        examples=[["item_exchange", "auction"]],
    )
    status: StatusFilter = Field(
        "outstanding",
        description="outstanding (listed by the newest complete sweep), gone, or all.",
    )
    min_price: MoneyFilter | None = Field(None, description="price >= this (ISK).")
    max_price: MoneyFilter | None = Field(None, description="price <= this (ISK).")
    min_reward: MoneyFilter | None = Field(None, description="reward >= this (ISK).")
    max_reward: MoneyFilter | None = Field(None, description="reward <= this (ISK).")
    min_collateral: MoneyFilter | None = Field(None, description="collateral >= this (ISK).")
    max_collateral: MoneyFilter | None = Field(None, description="collateral <= this (ISK).")
    min_volume: VolumeFilter | None = Field(None, description="volume >= this (m3).")
    max_volume: VolumeFilter | None = Field(None, description="volume <= this (m3).")
    issued_after: UtcFilter | None = Field(
        None, description="date_issued >= this.", examples=["2025-01-01T00:00:00Z"]
    )
    issued_before: UtcFilter | None = Field(None, description="date_issued < this.")
    expires_after: UtcFilter | None = Field(None, description="date_expired >= this.")
    expires_before: UtcFilter | None = Field(None, description="date_expired < this.")
    start_location_id: PositiveId | None = Field(None, description="Start station/structure.")
    end_location_id: PositiveId | None = Field(None, description="End station/structure.")
    issuer_id: PositiveId | None = Field(None, description="Issuing character.")
    issuer_corporation_id: PositiveId | None = Field(None, description="Issuer's corporation.")
    contains_type_id: list[PositiveId] = Field(
        default_factory=list,
        max_length=MAX_LIST_VALUES,
        description=(
            "Contracts holding an item of any of these types (repeatable). Included items "
            "only, unless include_requested=true."
        ),
        examples=[[11399]],
    )
    include_requested: bool = Field(
        False, description="contains_type_id also matches items the issuer asks for."
    )
    title: str | None = Field(
        None,
        min_length=1,
        max_length=100,
        pattern=r"^[^\x00]*$",  # PostgreSQL text cannot hold NUL
        description="Case-insensitive substring of the title (%, _ match themselves).",
    )
    sort: SortKey = Field("date_issued", description="Sort key; ties are broken by contract_id.")
    order: SortOrder = Field(
        "desc", description="asc or desc; rows without a sort value come last either way."
    )
    limit: int = Field(DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE, description="Page size.")
    cursor: str | None = Field(
        None,
        max_length=1024,
        description="next_cursor of the previous page, with the same filters, sort and order.",
    )
    count: bool = Field(
        False,
        description=(
            "Also return the total number of matching contracts: exact up to a threshold, "
            "the planner's estimate above it."
        ),
    )
    facets: bool = Field(
        False,
        description=(
            "Also return counts of the matching contracts (the cursor aside) by contract type "
            "and by category of their offered items, over at most facet_max_contracts "
            "contracts (10,000 by default; above it each count is a lower bound)."
        ),
    )

    @field_validator("region_id", "contains_type_id")
    @classmethod
    def _unique_ids(cls, values: list[int]) -> list[int]:
        return sorted(set(values))

    @field_validator("type")
    @classmethod
    def _unique_types(cls, values: list[str]) -> list[str]:
        return sorted(set(values))

    @model_validator(mode="after")
    def _ranges_are_ordered(self) -> Self:
        empty = [
            name
            for name, low, high in (
                ("price", self.min_price, self.max_price),
                ("reward", self.min_reward, self.max_reward),
                ("collateral", self.min_collateral, self.max_collateral),
            )
            if low is not None and high is not None and low > high
        ]
        if (
            self.min_volume is not None
            and self.max_volume is not None
            and self.min_volume > self.max_volume
        ):
            empty.append("volume")
        for name, after, before in (
            ("issued", self.issued_after, self.issued_before),
            ("expires", self.expires_after, self.expires_before),
        ):
            if after is not None and before is not None and after > before:
                empty.append(name)
        if empty:
            raise ValueError(
                f"empty range for {', '.join(empty)}: the lower bound exceeds the upper bound"
            )
        return self

    def filter_fields(self) -> dict[str, object]:
        """The filters alone (no paging or sort), JSON-ready: what a cursor is bound to."""
        return self.model_dump(
            mode="json", exclude={"sort", "order", "limit", "cursor", "count", "facets"}
        )


class ContractColumns(BaseModel):
    """One contract as listed by ESI, with Hangar Bay's view of its status."""

    contract_id: int = Field(examples=[190319637])
    region_id: int = Field(examples=[10000002])
    type: str = Field(examples=["item_exchange"])
    status: Literal["outstanding", "gone"]
    issuer_id: int = Field(examples=[2112625428])
    issuer_corporation_id: int = Field(examples=[98000001])
    for_corporation: bool | None
    date_issued: datetime = Field(examples=["2025-01-02T03:04:05Z"])
    date_expired: datetime = Field(examples=["2025-01-30T03:04:05Z"])
    days_to_complete: int | None
    price: Money | None
    reward: Money | None
    collateral: Money | None
    buyout: Money | None
    volume: float | None = Field(examples=[0.01])
    start_location_id: int | None = Field(examples=[60003760])
    end_location_id: int | None = Field(examples=[60003760])
    title: str | None = Field(examples=[""])
    first_seen_at: datetime
    last_seen_at: datetime
    gone_at: datetime | None


class ContractSummary(ContractNames, ContractColumns):
    """One contract as listed by ESI, with Hangar Bay's view of its status, what it holds and
    the names of its places and parties."""


# Response models are named apart from the tables (common.db's ContractItem, ContractBid) and
# from ESI's pages (common.esi_models.ContractPage); a docstring here would be public text.
class ContractItemDetail(ItemNames):
    record_id: int = Field(examples=[3013297282])
    type_id: int = Field(examples=[11399])
    quantity: int = Field(examples=[1])
    is_included: bool = Field(description="false: the issuer asks for this item.")
    item_id: int | None
    is_blueprint_copy: bool | None
    material_efficiency: int | None
    time_efficiency: int | None
    runs: int | None


class ContractBidDetail(BaseModel):
    bid_id: int = Field(examples=[1234567])
    amount: Money
    date_bid: datetime


class ContractDetail(ContractSummary):
    """A contract with its items and (auctions) bids, highest bid first."""

    items: list[ContractItemDetail]
    bids: list[ContractBidDetail]


class Total(BaseModel):
    value: int = Field(examples=[1234])
    kind: Literal["exact", "estimated"] = Field(
        description="exact: counted; estimated: the planner's estimate (above the threshold)."
    )


class ContractListPage(BaseModel):
    items: list[ContractSummary]
    next_cursor: str | None = Field(
        description="Pass as cursor to get the next page; null on the last page."
    )
    total: Total | None = Field(None, description="Present when count=true was asked.")
    facets: Facets | None = Field(None, description="Present when facets=true was asked.")


class RegionFreshness(BaseModel):
    region_id: int = Field(examples=[10000002])
    last_sweep_at: datetime | None = Field(
        description="When the newest complete sweep of the region was applied; null: never."
    )
    generation: datetime | None = Field(
        description="ESI Last-Modified of the listing that sweep read."
    )
    swept_contracts: int | None = Field(description="Contracts the newest sweep listed.")
    outstanding_contracts: int = Field(description="Outstanding contracts in the database now.")


class RegionList(BaseModel):
    regions: list[RegionFreshness]
    replica_lag_seconds: float | None = Field(
        None,
        description=(
            "How far the read replica answering this API is behind the primary, in seconds; "
            "null when the API reads the primary itself."
        ),
    )


class StatusCount(BaseModel):
    status: Literal["outstanding", "gone"]
    contracts: int


class RegionCount(BaseModel):
    region_id: int
    outstanding: int
    gone: int


class TypeCount(BaseModel):
    type: str
    outstanding: int
    gone: int


class Stats(BaseModel):
    by_status: list[StatusCount]
    by_region: list[RegionCount]
    by_type: list[TypeCount]


class ErrorDetail(BaseModel):
    location: list[str | int] = Field(examples=[["query", "limit"]])
    message: str = Field(examples=["Input should be less than or equal to 500"])
    type: str = Field(examples=["less_than_equal"])


class ErrorBody(BaseModel):
    code: str = Field(examples=["validation_error"])
    message: str
    details: list[ErrorDetail] = Field(default_factory=list)


class ErrorResponse(BaseModel):
    error: ErrorBody


class HealthStatus(BaseModel):
    status: Literal["ok", "unavailable", "replica_lagging"]
    replica_lag_seconds: float | None = Field(
        None, description="With a read replica: how far it is behind the primary, in seconds."
    )
