"""The messages between Hangar Bay's processes: JSON on NATS JetStream, nothing else.

Every message has a ``kind`` and a ``schema_version``. A reader accepts the versions it knows
and rejects the rest (they are dead-lettered, never dropped); unknown fields are ignored so that
a writer can add an optional field without breaking older readers.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter

from common.esi_models import EsiBid, EsiContract, EsiItem, PositiveId

SCHEMA_VERSION: Literal[1] = 1


class Message(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    schema_version: Literal[1] = SCHEMA_VERSION

    def to_json(self) -> bytes:
        """The wire form: compact JSON, absent optional fields omitted as ESI omits them."""
        return self.model_dump_json(exclude_none=True).encode()


class EsiSource(BaseModel):
    """The ESI response a batch came from."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    page: Annotated[int, Field(ge=1)]
    last_modified: AwareDatetime
    expires: AwareDatetime | None = None
    etag: Annotated[str, Field(max_length=200)] | None = None


class ContractWithItems(EsiContract):
    """A contract as listed by ESI, with its complete item list (empty for couriers)."""

    items: list[EsiItem] = Field(default_factory=list, max_length=100_000)


class ContractsBatch(Message):
    """Contracts of one region seen for the first time, each with all its items."""

    kind: Literal["contracts"] = "contracts"
    region_id: PositiveId
    fetched_at: AwareDatetime
    source: EsiSource
    contracts: list[ContractWithItems] = Field(min_length=1)

    def batch_key(self) -> str:
        """Contracts never change, so their ids identify the batch."""
        return _digest(",".join(str(c.contract_id) for c in self.contracts))

    def message_id(self) -> str:
        """Deterministic ``Nats-Msg-Id``: a republish after a crash is deduplicated."""
        return f"contracts:{self.region_id}:{self.batch_key()}"


class RegionSweep(Message):
    """A complete, consistent sweep: every contract id a region lists at one generation."""

    kind: Literal["sweep"] = "sweep"
    region_id: PositiveId
    generation: AwareDatetime = Field(description="The Last-Modified shared by every page.")
    swept_at: AwareDatetime
    pages: Annotated[int, Field(ge=1)]
    contract_ids: list[PositiveId] = Field(max_length=10_000_000)

    def message_id(self) -> str:
        return f"sweep:{self.region_id}:{int(self.generation.timestamp())}"


class ContractsDelisted(Message):
    """Contracts the previous consistent sweep listed and this one no longer does.

    Sweeps are retained only as the newest per region; these keep, for a replay, when each
    contract disappeared and when it was last seen.
    """

    kind: Literal["delisted"] = "delisted"
    region_id: PositiveId
    generation: AwareDatetime = Field(description="The sweep that no longer lists them.")
    previous_generation: AwareDatetime = Field(description="The last sweep that listed them.")
    previous_swept_at: AwareDatetime
    contract_ids: list[PositiveId] = Field(min_length=1, max_length=10_000_000)

    def message_id(self) -> str:
        return f"delisted:{self.region_id}:{int(self.generation.timestamp())}"


class AuctionBids(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    contract_id: PositiveId
    bids: list[EsiBid]


class BidsBatch(Message):
    """Bids of auctions of one region (bids only ever grow, so applying them is insert-only)."""

    kind: Literal["bids"] = "bids"
    region_id: PositiveId
    fetched_at: AwareDatetime
    auctions: list[AuctionBids] = Field(min_length=1)

    def batch_key(self) -> str:
        content = ";".join(
            f"{a.contract_id}:{','.join(str(b.bid_id) for b in a.bids)}" for a in self.auctions
        )
        return _digest(content)

    def message_id(self) -> str:
        return f"bids:{self.region_id}:{self.batch_key()}"


class ReferenceModel(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


Name = Annotated[str, Field(min_length=1, max_length=500)]


class ReferenceCategory(ReferenceModel):
    category_id: PositiveId
    name: Name
    published: bool


class ReferenceGroup(ReferenceModel):
    group_id: PositiveId
    name: Name
    category_id: PositiveId
    published: bool


class ReferenceType(ReferenceModel):
    """A type newer than the pinned SDE, as ``/universe/types/{id}`` gave it (its category
    from ``/universe/groups/{group_id}``)."""

    type_id: PositiveId
    name: Name
    group_id: PositiveId
    category_id: PositiveId
    published: bool
    market_group_id: PositiveId | None = None
    volume: float | None = None


class ReferenceStation(ReferenceModel):
    station_id: PositiveId
    name: Name
    system_id: PositiveId


class ReferenceSystem(ReferenceModel):
    system_id: PositiveId
    name: Name
    constellation_id: PositiveId
    security_status: Annotated[float, Field(ge=-1.0, le=1.0)]


class ReferenceConstellation(ReferenceModel):
    constellation_id: PositiveId
    name: Name
    region_id: PositiveId


class ReferenceName(ReferenceModel):
    """One answer of ``POST /universe/names``."""

    id: PositiveId
    name: Name
    category: Annotated[str, Field(min_length=1, max_length=50)]


class ReferenceData(Message):
    """Reference data resolved through ESI: types newer than the SDE, locations, names.

    Applying it is idempotent and order-free (newer ``resolved_at`` wins for names; the SDE's
    rows win over ESI's for types), and recomputes the derived fields of exactly the contracts
    that use its entries.
    """

    kind: Literal["reference"] = "reference"
    resolved_at: AwareDatetime
    categories: list[ReferenceCategory] = Field(default_factory=list, max_length=10_000)
    groups: list[ReferenceGroup] = Field(default_factory=list, max_length=10_000)
    types: list[ReferenceType] = Field(default_factory=list, max_length=10_000)
    constellations: list[ReferenceConstellation] = Field(default_factory=list, max_length=10_000)
    systems: list[ReferenceSystem] = Field(default_factory=list, max_length=10_000)
    stations: list[ReferenceStation] = Field(default_factory=list, max_length=10_000)
    names: list[ReferenceName] = Field(default_factory=list, max_length=10_000)

    def batch_key(self) -> str:
        return _digest(self.model_dump_json(exclude={"resolved_at"}))

    def message_id(self) -> str:
        return f"reference:{int(self.resolved_at.timestamp())}:{self.batch_key()}"


Event = ContractsBatch | RegionSweep | ContractsDelisted | BidsBatch | ReferenceData
AnyMessage = Annotated[Event, Field(discriminator="kind")]
any_message = TypeAdapter(AnyMessage)


class DeadLetter(Message):
    """A message that could not be applied, kept with the reason."""

    kind: Literal["dead_letter"] = "dead_letter"
    reason: str
    subject: str
    stream_sequence: int | None = None
    deliveries: int | None = None
    failed_at: datetime
    payload: str = Field(description="The original body (UTF-8, replacement characters if not).")


def parse_message(body: bytes) -> Event:
    """Validate a wire message; raises ``pydantic.ValidationError`` on anything else."""
    return any_message.validate_json(body)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]
