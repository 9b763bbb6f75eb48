"""Match keys: what lets a contract meet only the saved searches that can match it.

A saved search without item types is filed under the keys of one filter it has, the most
selective one (a start location before a region, say), in ``saved_search_keys``; a contract
of a batch offers its value of every such filter as keys (``kind:value``). Joining the two on
equal keys gives each contract the searches filed under one of its values, each at most once
(a search's keys are of one kind, a contract's values of one kind distinct). A search with
none of these filters is filed under ``any``, which every contract offers.

The saved search side (``search_keys``) is written by the API; the contract side (``contract``
below, SQL over a contract ``b`` of the notifier's batch) is the notifier's: one table for
both, so they cannot disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from common.text_search import first_word_key

ANY_KEY: Final = "any"


@dataclass(frozen=True)
class MatchKey:
    kind: str
    #: The search filter whose value(s) key a search.
    search_filter: str
    #: SQL giving the contract ``b``'s value(s): an expression, or ``unnest`` of an array.
    contract: str


#: Most selective first: a search is filed under the first of these it has. A place comes after
#: words and groups: a trade hub's station or system holds a large share of all contracts.
MATCH_KEYS: Final = (
    MatchKey("issuer", "issuer_id", "b.issuer_id"),
    MatchKey("issuer_corporation", "issuer_corporation_id", "b.issuer_corporation_id"),
    MatchKey("word", "q", "unnest(b.word_keys)"),
    MatchKey("group", "group_id", "unnest(b.group_ids)"),
    MatchKey("market_group", "market_group_id", "unnest(b.market_group_ids)"),
    MatchKey("end_location", "end_location_id", "b.end_location_id"),
    MatchKey("start_location", "start_location_id", "b.start_location_id"),
    MatchKey("system", "system_id", "b.start_system_id"),
    MatchKey("security", "security", "b.start_security"),
    MatchKey("category", "category_id", "unnest(b.category_ids)"),
    MatchKey("ship", "ship", "CASE WHEN b.is_ship THEN 'true' END"),
    MatchKey("bpc", "bpc", "CASE WHEN b.has_bpc THEN 'true' END"),
    MatchKey("region", "region_id", "b.region_id"),
    MatchKey("type", "type", "b.type"),
)


def _values(key: MatchKey, value: Any) -> list[str]:
    if value is None:
        return []
    if key.search_filter == "q":
        word = first_word_key(value)
        return [word] if word is not None else []
    if isinstance(value, bool):  # only true narrows: most contracts hold no ship, no copy
        return ["true"] if value else []
    if isinstance(value, list | tuple | set | frozenset):
        return sorted({str(v) for v in value})
    return [str(value)]


def search_keys(filters: Mapping[str, Any]) -> list[str]:
    """The keys a search without item types is filed under, from its filter values (``None``
    or an empty list: not asked)."""
    for key in MATCH_KEYS:
        values = _values(key, filters.get(key.search_filter))
        if values:
            return [f"{key.kind}:{value}" for value in values]
    return [ANY_KEY]


def contract_keys_sql() -> str:
    """SQL rows ``(match_key)`` of the contract ``b``: one per value of each kind, and
    ``any`` (for a ``CROSS JOIN LATERAL``)."""
    parts = [f"SELECT '{key.kind}:' || {key.contract}" for key in MATCH_KEYS]
    return "\n        UNION ALL ".join([*parts, f"SELECT '{ANY_KEY}'"])
