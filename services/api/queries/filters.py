"""A list query's filters as named bound parameters and the WHERE conditions on them.

Which parameter names are present (with the sort, order, status and include_requested)
decides a statement's SQL text; only the values vary otherwise (see ``shapes``).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any, Final

from sqlalchemy import (
    ARRAY,
    BigInteger,
    BindParameter,
    ColumnElement,
    Integer,
    Numeric,
    Text,
    any_,
    bindparam,
    exists,
    literal,
    select,
)
from sqlalchemy.sql.type_api import TypeEngine

from common.db import STATUS_GONE, STATUS_OUTSTANDING
from services.api.kit.like import LIKE_ESCAPE, like_escaped
from services.api.kit.money import cents_at_least, cents_at_most
from services.api.kit.statements import Params
from services.api.name_filters import content_filter_conditions, content_filter_params
from services.api.queries.columns import contracts, items
from services.api.schemas import ContractListQuery

BIGINT: Final = BigInteger()
BIGINTS: Final = ARRAY(BigInteger())
TEXT: Final = Text()
TEXTS: Final = ARRAY(Text())
INTEGER: Final = Integer()
# Unconstrained numeric: a bound cast to the column's numeric(20, 2) would be rounded (half up)
# and could overflow; bounds are made whole cents the right way instead (see cents_at_least).
AMOUNT: Final = Numeric()

Comparison = Callable[[ColumnElement[Any], Any], ColumnElement[bool]]


def statuses(query: ContractListQuery) -> list[str]:
    if query.status == "all":
        return [STATUS_OUTSTANDING, STATUS_GONE]
    return [query.status]


def status_is(status: str) -> ColumnElement[bool]:
    # Written into the SQL text (each statement is cached per status): the planner sees it even
    # in a generic plan.
    return contracts.c.status == literal(status, literal_execute=True)


def filter_params(query: ContractListQuery) -> Params:
    """The filters' bound values (not ``status``, which is written into the SQL)."""
    params: Params = {}
    if len(query.region_id) == 1:
        params["region_id"] = query.region_id[0]
    elif query.region_id:
        params["region_ids"] = query.region_id
    if len(query.type) == 1:
        params["type"] = query.type[0]
    elif query.type:
        params["types"] = query.type
    for name, low, high in (
        ("price", query.min_price, query.max_price),
        ("reward", query.min_reward, query.max_reward),
        ("collateral", query.min_collateral, query.max_collateral),
    ):
        if low is not None:
            params[f"min_{name}"] = cents_at_least(low)
        if high is not None:
            params[f"max_{name}"] = cents_at_most(high)
    optional: tuple[tuple[str, object], ...] = (
        ("min_volume", query.min_volume),
        ("max_volume", query.max_volume),
        ("issued_after", query.issued_after),
        ("issued_before", query.issued_before),
        ("expires_after", query.expires_after),
        ("expires_before", query.expires_before),
        ("start_location_id", query.start_location_id),
        ("end_location_id", query.end_location_id),
        ("issuer_id", query.issuer_id),
        ("issuer_corporation_id", query.issuer_corporation_id),
    )
    for name, value in optional:
        if value is not None:
            params[name] = value
    if query.contains_type_id:
        params["contains_type_ids"] = query.contains_type_id
    if query.title is not None:
        params["title"] = like_escaped(query.title)
    params.update(content_filter_params(query))
    return params


def filter_conditions(
    query: ContractListQuery, params: Params, *, with_status: bool
) -> list[ColumnElement[bool]]:
    """The WHERE conditions of the filters in ``params`` (``status`` only when
    ``with_status``): each a comparison with the bound parameter of the same name."""

    def bound(name: str, type_: TypeEngine[Any]) -> BindParameter[Any]:
        return bindparam(name, params[name], type_=type_)

    c = contracts.c
    conditions: list[ColumnElement[bool]] = []
    if with_status and query.status != "all":
        conditions.append(status_is(query.status))
    if "region_id" in params:
        conditions.append(c.region_id == bound("region_id", BIGINT))
    if "region_ids" in params:
        conditions.append(c.region_id == any_(bound("region_ids", BIGINTS)))
    if "type" in params:
        conditions.append(c.type == bound("type", TEXT))
    if "types" in params:
        conditions.append(c.type == any_(bound("types", TEXTS)))
    comparisons: tuple[tuple[str, ColumnElement[Any], Comparison, TypeEngine[Any]], ...] = (
        ("min_price", c.price, operator.ge, AMOUNT),
        ("max_price", c.price, operator.le, AMOUNT),
        ("min_reward", c.reward, operator.ge, AMOUNT),
        ("max_reward", c.reward, operator.le, AMOUNT),
        ("min_collateral", c.collateral, operator.ge, AMOUNT),
        ("max_collateral", c.collateral, operator.le, AMOUNT),
        ("min_volume", c.volume, operator.ge, c.volume.type),
        ("max_volume", c.volume, operator.le, c.volume.type),
        ("issued_after", c.date_issued, operator.ge, c.date_issued.type),
        ("issued_before", c.date_issued, operator.lt, c.date_issued.type),
        ("expires_after", c.date_expired, operator.ge, c.date_expired.type),
        ("expires_before", c.date_expired, operator.lt, c.date_expired.type),
        ("start_location_id", c.start_location_id, operator.eq, BIGINT),
        ("end_location_id", c.end_location_id, operator.eq, BIGINT),
        ("issuer_id", c.issuer_id, operator.eq, BIGINT),
        ("issuer_corporation_id", c.issuer_corporation_id, operator.eq, BIGINT),
    )
    for name, column, compare, type_ in comparisons:
        if name in params:
            conditions.append(compare(column, bound(name, type_)))
    if "contains_type_ids" in params:
        item_conditions: list[ColumnElement[bool]] = [
            items.c.contract_id == c.contract_id,
            items.c.type_id == any_(bound("contains_type_ids", BIGINTS)),
        ]
        if not query.include_requested:
            # Plain (not IS TRUE): the offered items' partial index matches it.
            item_conditions.append(items.c.is_included)
        conditions.append(exists(select(items.c.record_id).where(*item_conditions)))
    if "title" in params:
        conditions.append(c.title.icontains(bound("title", TEXT), escape=LIKE_ESCAPE))
    conditions.extend(content_filter_conditions(params))
    return conditions
