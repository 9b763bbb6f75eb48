"""The contract table's cells as text, computed once per row in Python: the template only
prints them (a macro call or a filter per cell costs more than the list query behind the
page). Nothing here is HTML; the template escapes every value."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from services.api.web import present
from services.api.web.present import Column
from services.api.web.rendering import iso, money, relative, volume

Record = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Cell:
    """What one ``<td>`` shows: text, a link (the contract), a badge, or a time."""

    text: str
    css: str = ""
    link: str = ""
    badge: str = ""
    time: str = ""
    """An ISO timestamp: the text is a ``<time>`` of it, with ``title`` beside."""
    title: str = ""


@dataclass(frozen=True, slots=True)
class TableRow:
    contract_id: int
    gone: bool
    cells: list[Cell]


def _when(value: datetime | None, now: datetime) -> Cell:
    if value is None:
        return Cell("—")
    stamp = iso(value)  # 2025-01-02T03:04:05Z; its title as ``utc`` writes it, from it
    return Cell(relative(value, now), time=stamp, title=f"{stamp[:10]} {stamp[11:16]} UTC")


def _label(row: Record, now: datetime) -> Cell:
    gone = row["status"] == "gone"
    expired = row["date_expired"] <= now
    return Cell(
        present.label(row),
        css="label",
        link=f"/contracts/{row['contract_id']}",
        badge="gone" if gone else "expired" if expired else "",
    )


def _cell(key: str, row: Record, now: datetime, bid: Decimal | None) -> Cell:
    if key == "label":
        return _label(row, now)
    if key == "type":
        return Cell(present.type_label(row["type"]))
    if key == "location":
        return Cell(present.start_location(row))
    if key == "region":
        return Cell(present.region(row))
    if key == "route":
        return Cell(f"{present.start_location(row)} → {present.end_location(row)}")
    if key == "volume":
        return Cell(volume(row["volume"]), css="num")
    if key == "days_to_complete":
        days = row["days_to_complete"]
        return Cell("—" if days is None else str(days), css="num")
    if key in ("date_issued", "date_expired"):
        return _when(row[key], now)
    if key == "price_or_reward":
        return Cell(money(row["reward"] if row["type"] == "courier" else row["price"]), css="num")
    if key == "reward_per_m3":
        return Cell(money(present.reward_per_m3(row)), css="num")
    if key == "current_bid":
        return Cell(money(bid), css="num")
    return Cell(money(row[key]), css="num")


def table_rows(
    rows: Sequence[Record],
    columns: Sequence[Column],
    now: datetime,
    bids: Mapping[int, Decimal],
) -> list[TableRow]:
    return [
        TableRow(
            row["contract_id"],
            row["status"] == "gone",
            [_cell(column.key, row, now, bids.get(row["contract_id"])) for column in columns],
        )
        for row in rows
    ]
