"""The SQL of the filters on what contracts hold (``ContentFilters``): bound values by
name, and the WHERE conditions over them, for the query service's list and count statements.

Each is served by an index: the search by the trigram index on ``contracts.search_text``,
ship and blueprint filters by the derived columns (and a probe of the contract's items by
their contract index), a system by the stations of that system and the start-location index.
"""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy import (
    BigInteger,
    BindParameter,
    Boolean,
    ColumnElement,
    Double,
    Integer,
    Text,
    bindparam,
    exists,
    select,
)
from sqlalchemy.sql.type_api import TypeEngine

from common.db import Contract, ContractItem, ItemType, Station
from services.api.kit.like import LIKE_ESCAPE, like_escaped
from services.api.name_schemas import ContentFilters

contracts: Final = Contract.__table__
items: Final = ContractItem.__table__
types: Final = ItemType.__table__
stations: Final = Station.__table__

#: The derived columns every list row and detail carries.
CONTENT_COLUMNS: Final = (
    contracts.c.is_ship,
    contracts.c.primary_label,
    contracts.c.item_count,
    contracts.c.has_bpc,
    contracts.c.bpc_runs_min,
    contracts.c.bpc_runs_max,
    contracts.c.bpc_me_min,
    contracts.c.bpc_me_max,
    contracts.c.bpc_te_min,
    contracts.c.bpc_te_max,
    contracts.c.reward_per_m3,
)

_BIGINT: Final = BigInteger()
_INTEGER: Final = Integer()
_BOOLEAN: Final = Boolean()
_DOUBLE: Final[Double[float]] = Double()
_TEXT: Final = Text()

Params = dict[str, Any]

#: parameter -> (item column, comparison) for the bounds on one blueprint copy
_BLUEPRINT_BOUNDS: Final = {
    "min_runs": ("runs", ">="),
    "max_runs": ("runs", "<="),
    "min_me": ("material_efficiency", ">="),
    "max_me": ("material_efficiency", "<="),
    "min_te": ("time_efficiency", ">="),
    "max_te": ("time_efficiency", "<="),
}
#: the same bounds on the contract's summary: a cheap first test before the items are probed
_SUMMARY_BOUNDS: Final = {
    "min_runs": ("bpc_runs_max", ">="),
    "max_runs": ("bpc_runs_min", "<="),
    "min_me": ("bpc_me_max", ">="),
    "max_me": ("bpc_me_min", "<="),
    "min_te": ("bpc_te_max", ">="),
    "max_te": ("bpc_te_min", "<="),
}


def search_pattern(text: str) -> str:
    """A LIKE pattern finding ``text`` (lower-cased, whitespace collapsed) anywhere, with
    LIKE's wildcards matching themselves."""
    return f"%{like_escaped(' '.join(text.lower().split()))}%"


def content_filter_params(query: ContentFilters) -> Params:
    params: Params = {}
    if query.q is not None:
        params["q_pattern"] = search_pattern(query.q)
    for name in (
        "ship",
        "category_id",
        "group_id",
        "bpc",
        *_BLUEPRINT_BOUNDS,
        "system_id",
        "min_reward_per_m3",
    ):
        value = getattr(query, name)
        if value is not None:
            params[name] = value
    return params


def _compare(column: ColumnElement[Any], operator: str, value: Any) -> ColumnElement[bool]:
    compared: ColumnElement[bool] = column >= value if operator == ">=" else column <= value
    return compared


def content_filter_conditions(params: Params) -> list[ColumnElement[bool]]:
    def bound(name: str, type_: TypeEngine[Any]) -> BindParameter[Any]:
        return bindparam(name, params[name], type_=type_)

    c = contracts.c
    conditions: list[ColumnElement[bool]] = []
    if "q_pattern" in params:
        conditions.append(c.search_text.like(bound("q_pattern", _TEXT), escape=LIKE_ESCAPE))
    if "ship" in params:
        conditions.append(c.is_ship == bound("ship", _BOOLEAN))
    for name in ("category_id", "group_id"):
        if name in params:
            conditions.append(
                exists(
                    select(items.c.record_id)
                    .join(types, types.c.type_id == items.c.type_id)
                    .where(
                        items.c.contract_id == c.contract_id,
                        items.c.is_included.is_(True),
                        types.c[name] == bound(name, _INTEGER),
                    )
                )
            )
    if "bpc" in params:
        conditions.append(c.has_bpc == bound("bpc", _BOOLEAN))
    bounds = [name for name in _BLUEPRINT_BOUNDS if name in params]
    if bounds:
        # Plain boolean columns (not IS TRUE): the partial indexes' predicates match them.
        conditions.append(c.has_bpc)
        item_conditions: list[ColumnElement[bool]] = [
            items.c.contract_id == c.contract_id,
            items.c.is_included,
            items.c.is_blueprint_copy,
        ]
        for name in bounds:
            summary_column, operator = _SUMMARY_BOUNDS[name]
            conditions.append(_compare(c[summary_column], operator, bound(name, _INTEGER)))
            item_column, operator = _BLUEPRINT_BOUNDS[name]
            item_conditions.append(_compare(items.c[item_column], operator, bound(name, _INTEGER)))
        conditions.append(exists(select(items.c.record_id).where(*item_conditions)))
    if "system_id" in params:
        conditions.append(
            c.start_location_id.in_(
                select(stations.c.station_id).where(
                    stations.c.system_id == bound("system_id", _BIGINT)
                )
            )
        )
    if "min_reward_per_m3" in params:
        conditions.append(c.reward_per_m3 >= bound("min_reward_per_m3", _DOUBLE))
    return conditions
