"""Enrichment: a contract's items (every page, once ever) and an auction's bids."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

from common.esi_models import EsiBid, EsiItem, bid_page, item_page
from services.fetcher.esi_client import EsiClient, UnexpectedEsiStatusError
from services.fetcher.governor import Priority

T = TypeVar("T")


class EmptyItemsError(Exception):
    """An item exchange or auction answered with no items: an error, never a success."""


async def _all_pages(
    esi: EsiClient, route: str, path: str, parse: Callable[[bytes], list[T]]
) -> tuple[list[T] | None, float | None]:
    """Every page of a per-contract route; ``None`` when ESI says the contract is gone."""
    response, first = await esi.get_json(route, path, parse, priority=Priority.ENRICHMENT, page=1)
    if response.gone:
        return None, None
    if first is None:
        raise UnexpectedEsiStatusError(f"GET {path}: HTTP {response.status}")
    pages = response.pages
    rest = await asyncio.gather(
        *(
            esi.get_json(route, path, parse, priority=Priority.ENRICHMENT, page=p)
            for p in range(2, pages + 1)
        )
    )
    entries = list(first)
    for later, body in rest:
        if later.gone:
            return None, None
        if body is None:
            raise UnexpectedEsiStatusError(f"GET {path}: HTTP {later.status}")
        entries.extend(body)
    return entries, response.fresh_for(datetime.now(UTC))


async def fetch_items(esi: EsiClient, contract_id: int) -> list[EsiItem] | None:
    items, _ = await _all_pages(
        esi, "items", f"/contracts/public/items/{contract_id}", item_page.validate_json
    )
    if items is not None and not items:
        raise EmptyItemsError(f"contract {contract_id} has no items")
    if items is not None:
        unique = {item.record_id: item for item in items}
        items = list(unique.values())
    return items


async def fetch_bids(esi: EsiClient, contract_id: int) -> tuple[list[EsiBid] | None, float | None]:
    return await _all_pages(
        esi, "bids", f"/contracts/public/bids/{contract_id}", bid_page.validate_json
    )
