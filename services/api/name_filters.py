"""The SQL of the filters on what contracts hold (``ContentFilters``): bound values by
name, and the WHERE conditions over them, for the query service's list and count statements.

Each is served by an index: the search by the trigram index on ``contracts.search_text``
(a LIKE of the query's words finds the candidates, a regular expression of the same text,
every character literal, then checks that it starts a word), ship and blueprint filters by the
derived columns (and a probe of the contract's items by their contract index), a category, a
group or a market group's subtree by the contract's derived arrays of them (GIN index
``ix_contracts_offered_kinds``, or a test of the row beside another index), a system or a
security class by the stations there and the start-location index.

Start locations: a contract's start system is known when its start location is a station
(``stations``, resolved through ESI); player structures are in that table only once their
system is known, so a structure of unknown system matches no system and no security class.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from sqlalchemy import (
    BigInteger,
    BindParameter,
    Boolean,
    ColumnElement,
    Double,
    Integer,
    Text,
    and_,
    bindparam,
    exists,
    literal_column,
    select,
)
from sqlalchemy.dialects.postgresql import array
from sqlalchemy.sql.type_api import TypeEngine

from common.db import Contract, ContractItem, SolarSystem, Station
from services.api.kit.like import LIKE_ESCAPE, like_escaped
from services.api.name_schemas import ContentFilters
from services.api.system_security import HIGHSEC_FLOOR

contracts: Final = Contract.__table__
items: Final = ContractItem.__table__
stations: Final = Station.__table__
systems: Final = SolarSystem.__table__

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

#: filter -> the contract's derived array it is a member of (``@>``: the GIN index's operator)
_OFFERED_KINDS: Final = {
    "category_id": contracts.c.offered_category_ids,
    "group_id": contracts.c.offered_group_ids,
    "market_group_id": contracts.c.offered_market_group_ids,
}

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


#: Characters with a meaning in a PostgreSQL regular expression (ARE) outside brackets; a
#: backslash before any of them (all ASCII punctuation) stands for the character itself.
_REGEX_SPECIALS: Final = frozenset("\\^$.|?*+()[]{}")
#: Where a word starts: the text's start, or after a character that is no letter or digit.
WORD_START: Final = "(^|[^[:alnum:]])"


def search_pattern(text: str) -> str:
    """A LIKE pattern finding ``text`` (lower-cased, whitespace collapsed) anywhere, with
    LIKE's wildcards matching themselves."""
    return f"%{like_escaped(' '.join(text.lower().split()))}%"


def regex_literal(text: str) -> str:
    """``text`` as a PostgreSQL regular expression matching exactly itself."""
    return "".join(f"\\{char}" if char in _REGEX_SPECIALS else char for char in text)


def word_search_params(text: str) -> tuple[str, str]:
    """``(like, regex)`` finding ``text`` (lower-cased) where a word starts: the LIKE pattern
    (its words in order, anything between) is the indexed candidate test, the regex (the
    words, whitespace between, at a word start) the exact one."""
    words = text.lower().split()
    like = "%" + "%".join(like_escaped(word) for word in words) + "%"
    regex = WORD_START + "[[:space:]]+".join(regex_literal(word) for word in words)
    return like, regex


def content_filter_params(query: ContentFilters) -> Params:
    params: Params = {}
    if query.q is not None:
        params["q_pattern"], params["q_word_regex"] = word_search_params(query.q)
    if query.security is not None:
        # One parameter name per class: each class is its own statement shape (its bounds).
        params[f"security_{query.security}"] = 0.0 if query.security == "nullsec" else HIGHSEC_FLOOR
    for name in (
        "ship",
        "category_id",
        "group_id",
        "market_group_id",
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
        conditions.append(c.search_text.regexp_match(bound("q_word_regex", _TEXT)))
    if "ship" in params:
        conditions.append(c.is_ship == bound("ship", _BOOLEAN))
    for name, column in _OFFERED_KINDS.items():
        if name in params:
            conditions.append(column.contains(array([bound(name, _INTEGER)])))
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
        # One bound is answered by the summary alone (the min / max over the same offered
        # copies). Several must hold on one copy: each candidate's copies are probed. The
        # OFFSET keeps the probe a per-contract subplan: pulled up into a semi-join the
        # planner would collect every matching copy first (estimated far too few) and sort.
        if len(bounds) > 1:
            probe = select(items.c.record_id).where(*item_conditions).offset(literal_column("0"))
            conditions.append(exists(probe))
    if "system_id" in params:
        conditions.append(
            c.start_location_id.in_(
                select(stations.c.station_id).where(
                    stations.c.system_id == bound("system_id", _BIGINT)
                )
            )
        )
    security = _security_condition(params, bound)
    if security is not None:
        conditions.append(
            c.start_location_id.in_(
                select(stations.c.station_id)
                .join(systems, systems.c.system_id == stations.c.system_id)
                .where(security)
            )
        )
    if "min_reward_per_m3" in params:
        conditions.append(c.reward_per_m3 >= bound("min_reward_per_m3", _DOUBLE))
    return conditions


def _security_condition(
    params: Params, bound: Callable[[str, TypeEngine[Any]], BindParameter[Any]]
) -> ColumnElement[bool] | None:
    """The class's bounds on the true status (see ``system_security``)."""
    status = systems.c.security_status
    if "security_highsec" in params:
        return status >= bound("security_highsec", _DOUBLE)
    if "security_lowsec" in params:
        return and_(status > literal_column("0"), status < bound("security_lowsec", _DOUBLE))
    if "security_nullsec" in params:
        return status <= bound("security_nullsec", _DOUBLE)
    return None
