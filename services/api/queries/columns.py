"""The read side's tables and the columns its statements select and sort by."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from sqlalchemy import ColumnElement, CompoundSelect, Select
from sqlalchemy.engine import RowMapping

from common.db import Contract, ContractBid, ContractItem, RegionSweepState
from services.api.name_filters import CONTENT_COLUMNS

contracts: Final = Contract.__table__
items: Final = ContractItem.__table__
bids: Final = ContractBid.__table__
sweeps: Final = RegionSweepState.__table__

SUMMARY_COLUMNS: Final = (
    contracts.c.contract_id,
    contracts.c.region_id,
    contracts.c.type,
    contracts.c.status,
    contracts.c.issuer_id,
    contracts.c.issuer_corporation_id,
    contracts.c.for_corporation,
    contracts.c.date_issued,
    contracts.c.date_expired,
    contracts.c.days_to_complete,
    contracts.c.price,
    contracts.c.reward,
    contracts.c.collateral,
    contracts.c.buyout,
    contracts.c.volume,
    contracts.c.start_location_id,
    contracts.c.end_location_id,
    contracts.c.title,
    contracts.c.first_seen_at,
    contracts.c.last_seen_at,
    contracts.c.gone_at,
    *CONTENT_COLUMNS,
)
SUMMARY_NAMES: Final = tuple(column.name for column in SUMMARY_COLUMNS)
ITEM_COLUMNS: Final = (
    items.c.record_id,
    items.c.type_id,
    items.c.quantity,
    items.c.is_included,
    items.c.item_id,
    items.c.is_blueprint_copy,
    items.c.material_efficiency,
    items.c.time_efficiency,
    items.c.runs,
)
BID_COLUMNS: Final = (bids.c.bid_id, bids.c.amount, bids.c.date_bid)

SORT_COLUMNS: Final[Mapping[str, ColumnElement[Any]]] = {
    "price": contracts.c.price,
    "date_issued": contracts.c.date_issued,
    "date_expired": contracts.c.date_expired,
    "volume": contracts.c.volume,
    "reward": contracts.c.reward,
    "reward_per_m3": contracts.c.reward_per_m3,
}
NULLABLE_SORTS: Final = frozenset({"price", "volume", "reward", "reward_per_m3"})

Row = RowMapping
AnySelect = Select[*tuple[Any, ...]]
Statement = Select[*tuple[Any, ...]] | CompoundSelect[*tuple[Any, ...]]
