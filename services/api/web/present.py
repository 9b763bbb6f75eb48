"""How a contract reads on a page: its label, names (ids where a name is not known), columns.

Names come from the row when the query layer gives them (``type_name``, ``start_location_name``,
...); until then a page shows the id. Nothing here is HTML: the templates escape every value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from common.db import FIRST_STRUCTURE_ID

Record = Mapping[str, Any]

TYPE_LABELS = {
    "item_exchange": "Item exchange",
    "auction": "Auction",
    "courier": "Courier",
    "loan": "Loan",
    "unknown": "Unknown",
}


def _name(row: Record, name_field: str, id_field: str, kind: str) -> str:
    name = row.get(name_field)
    if name:
        return str(name)
    value = row.get(id_field)
    return f"{kind} {value}" if value is not None else "—"


def start_location(row: Record) -> str:
    return _name(row, "start_location_name", "start_location_id", "Location")


def end_location(row: Record) -> str:
    return _name(row, "end_location_name", "end_location_id", "Location")


def region(row: Record) -> str:
    return _name(row, "region_name", "region_id", "Region")


def issuer(row: Record) -> str:
    return _name(row, "issuer_name", "issuer_id", "Character")


def issuer_corporation(row: Record) -> str:
    return _name(row, "issuer_corporation_name", "issuer_corporation_id", "Corporation")


def item_type(item: Record) -> str:
    return _name(item, "type_name", "type_id", "Type")


def type_label(contract_type: str) -> str:
    return TYPE_LABELS.get(contract_type, contract_type.replace("_", " ").capitalize())


def label(row: Record) -> str:
    """The contract's name on a page: the query layer's label, else the title, else what it
    is (a courier's route, the contract type)."""
    for field in ("primary_label", "title"):
        value = row.get(field)
        if value and str(value).strip():
            return str(value)
    if row.get("type") == "courier":
        return f"Courier: {start_location(row)} → {end_location(row)}"
    return f"{type_label(str(row.get('type', '')))} {row.get('contract_id')}"


def _decimal(value: object) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def reward_per_m3(row: Record) -> Decimal | None:
    """The query layer's ``reward_per_m3`` when it has one, else reward / volume."""
    given = _decimal(row.get("reward_per_m3"))
    if given is not None:
        return given
    reward, size = _decimal(row.get("reward")), _decimal(row.get("volume"))
    if reward is None or size is None or size <= 0:
        return None
    return (reward / size).quantize(Decimal("0.01"))


def blueprint(item: Record) -> str:
    """``BPC 10 runs, ME 10, TE 20`` for a copy, ``BPO ME 10, TE 20`` for an original with
    known efficiencies; empty for anything else."""
    copy = item.get("is_blueprint_copy")
    me, te, runs = (
        item.get("material_efficiency"),
        item.get("time_efficiency"),
        item.get("runs"),
    )
    if copy is None and me is None and te is None:
        return ""
    parts = []
    if copy and runs is not None:
        parts.append("1 run" if runs == 1 else f"{runs} runs")
    if me is not None:
        parts.append(f"ME {me}")
    if te is not None:
        parts.append(f"TE {te}")
    return f"{'BPC' if copy else 'BPO'} {', '.join(parts)}".strip()


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    heading: str
    sort: str | None = None
    numeric: bool = False


_CONTRACT = Column("label", "Contract")
_LOCATION = Column("location", "Location")
_REGION = Column("region", "Region")
_ISSUED = Column("date_issued", "Issued", "date_issued")
_EXPIRES = Column("date_expired", "Expires", "date_expired")
_VOLUME = Column("volume", "Volume m³", "volume", numeric=True)

COLUMNS: dict[str, tuple[Column, ...]] = {
    "": (
        _CONTRACT,
        Column("type", "Type"),
        Column("price_or_reward", "Price (reward) ISK", "price", numeric=True),
        _VOLUME,
        _LOCATION,
        _REGION,
        _ISSUED,
        _EXPIRES,
    ),
    "item_exchange": (
        _CONTRACT,
        Column("price", "Price ISK", "price", numeric=True),
        _VOLUME,
        _LOCATION,
        _REGION,
        _ISSUED,
        _EXPIRES,
    ),
    "auction": (
        _CONTRACT,
        Column("price", "Starting bid ISK", "price", numeric=True),
        Column("current_bid", "Current bid ISK", numeric=True),
        Column("buyout", "Buyout ISK", numeric=True),
        _LOCATION,
        _REGION,
        _EXPIRES,
    ),
    "courier": (
        _CONTRACT,
        Column("route", "Route"),
        Column("reward", "Reward ISK", "reward", numeric=True),
        Column("collateral", "Collateral ISK", numeric=True),
        _VOLUME,
        Column("reward_per_m3", "Reward/m³ ISK", "reward_per_m3", numeric=True),
        Column("days_to_complete", "Days", numeric=True),
        _EXPIRES,
    ),
}


def columns(tab: str, sort_keys: tuple[str, ...]) -> list[Column]:
    """The tab's columns; a column is sortable only by a key the query layer accepts."""
    return [
        column
        if column.sort in sort_keys or column.sort is None
        else Column(column.key, column.heading, None, column.numeric)
        for column in COLUMNS.get(tab, COLUMNS[""])
    ]


_PICKED_KINDS = {"type": "Type", "region": "Region", "system": "System", "station": "Location"}


def picked(kind: str, value: str, name: str | None) -> str:
    """A picked filter's name, else what it is by id (a structure's id says so)."""
    if name:
        return name
    if kind == "station" and value.isdigit() and int(value) >= FIRST_STRUCTURE_ID:
        return f"Structure {value}"
    return f"{_PICKED_KINDS.get(kind, kind.capitalize())} {value}"
