"""The list, count and estimate statements compiled once per shape."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Final

from services.api.kit.statements import Params, StatementCache
from services.api.schemas import ContractListQuery

STATEMENTS: Final = StatementCache(1024)


def shape_key(kind: str, query: ContractListQuery, params: Params) -> Hashable:
    """Everything that changes the SQL text of a ``kind`` statement for ``query``."""
    return (kind, query.sort, query.order, query.status, query.include_requested, tuple(params))
