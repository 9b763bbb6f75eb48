"""ESI's public-contract payloads as typed models.

ESI omits optional fields rather than sending null, adds fields and enum values without notice,
and sends 64-bit ids: unknown fields are ignored, the contract type is any short identifier, and
every optional field is ``None`` when absent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

PositiveId = Annotated[int, Field(gt=0, lt=2**63)]
LocationId = Annotated[int, Field(gt=0, lt=2**63)]
Money = Annotated[float, Field(ge=0, lt=1e17, allow_inf_nan=False)]
ContractType = Annotated[str, Field(pattern=r"^[a-z_]{1,32}$")]

#: Contract types whose items ESI serves; the others (courier, loan, unknown) carry none.
TYPES_WITH_ITEMS = frozenset({"item_exchange", "auction"})


class EsiModel(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class EsiContract(EsiModel):
    """One entry of ``GET /contracts/public/{region_id}``."""

    contract_id: PositiveId
    issuer_id: PositiveId
    issuer_corporation_id: PositiveId
    type: ContractType
    date_issued: AwareDatetime
    date_expired: AwareDatetime
    buyout: Money | None = None
    collateral: Money | None = None
    price: Money | None = None
    reward: Money | None = None
    volume: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    days_to_complete: Annotated[int, Field(ge=0, le=3650)] | None = None
    start_location_id: LocationId | None = None
    end_location_id: LocationId | None = None
    for_corporation: bool | None = None
    title: Annotated[str, Field(max_length=1000)] | None = None


class EsiItem(EsiModel):
    """One entry of ``GET /contracts/public/items/{contract_id}``."""

    record_id: PositiveId
    type_id: PositiveId
    quantity: Annotated[int, Field(gt=0, lt=2**63)]
    is_included: bool
    item_id: PositiveId | None = None
    is_blueprint_copy: bool | None = None
    material_efficiency: Annotated[int, Field(ge=0, le=100)] | None = None
    time_efficiency: Annotated[int, Field(ge=0, le=100)] | None = None
    runs: Annotated[int, Field(ge=-1, lt=2**31)] | None = None


class EsiBid(EsiModel):
    """One entry of ``GET /contracts/public/bids/{contract_id}``."""

    bid_id: PositiveId
    date_bid: AwareDatetime
    amount: Money


contract_page = TypeAdapter(list[EsiContract])
_raw_page = TypeAdapter(list[dict[str, object]])


@dataclass(frozen=True)
class ContractPage:
    """A list page whose valid entries are kept and whose invalid ones are set aside: one
    malformed entry must not cost the valid contracts beside it."""

    contracts: list[EsiContract]
    rejected: list[str]
    #: Contract ids of the invalid entries whose ``contract_id`` is still a readable id: ESI
    #: lists these contracts, so a sweep must count them as listed.
    rejected_ids: list[int]
    #: Invalid entries without a readable ``contract_id``: a sweep holding one cannot say which
    #: contracts ESI lists.
    unidentified: int


def _readable_contract_id(entry: dict[str, object]) -> int | None:
    contract_id = entry.get("contract_id")
    if (
        isinstance(contract_id, int)
        and not isinstance(contract_id, bool)
        and 0 < contract_id < 2**63
    ):
        return contract_id
    return None


def parse_contract_page(body: bytes) -> ContractPage:
    """Raises ``ValidationError`` only when the body is not a JSON array of objects."""
    contracts: list[EsiContract] = []
    rejected: list[str] = []
    rejected_ids: list[int] = []
    unidentified = 0
    for entry in _raw_page.validate_json(body):
        try:
            contracts.append(EsiContract.model_validate(entry))
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            rejected.append(f"contract {entry.get('contract_id')!r}: {where}: {first['msg']}")
            contract_id = _readable_contract_id(entry)
            if contract_id is None:
                unidentified += 1
            else:
                rejected_ids.append(contract_id)
    return ContractPage(contracts, rejected, rejected_ids, unidentified)


item_page = TypeAdapter(list[EsiItem])
bid_page = TypeAdapter(list[EsiBid])
region_list = TypeAdapter(list[PositiveId])


def esi_timestamp(value: datetime) -> str:
    """ESI's own date format: ISO-8601, UTC, second precision, ``Z``."""
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")
