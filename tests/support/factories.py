"""Message builders for tests: realistic contracts with items, sweeps and bids."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from common.esi_models import EsiBid, EsiItem
from common.messages import (
    AuctionBids,
    BidsBatch,
    ContractsBatch,
    ContractWithItems,
    EsiSource,
    RegionSweep,
)

BASE_TIME = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
REGION = 10000002


def generation(n: int) -> datetime:
    return BASE_TIME + timedelta(minutes=30 * n)


def contract(
    contract_id: int, *, items: int = 2, type_: str = "item_exchange", price: float = 1e6
) -> ContractWithItems:
    return ContractWithItems(
        contract_id=contract_id,
        issuer_id=90000001,
        issuer_corporation_id=98000001,
        type=type_,
        date_issued=BASE_TIME - timedelta(days=1),
        date_expired=BASE_TIME + timedelta(days=13),
        price=price,
        collateral=0.0,
        reward=0.0,
        volume=10.5,
        days_to_complete=0,
        start_location_id=60003760,
        end_location_id=60003760,
        title="",
        items=[
            EsiItem(
                record_id=contract_id * 1000 + n,
                type_id=34 + n,
                quantity=100 * (n + 1),
                is_included=True,
                item_id=contract_id * 1000 + n + 10**12,
            )
            for n in range(items)
        ],
    )


def batch(
    contracts: list[ContractWithItems], *, gen: int = 0, region: int = REGION, page: int = 1
) -> ContractsBatch:
    return ContractsBatch(
        region_id=region,
        fetched_at=generation(gen) + timedelta(minutes=1),
        source=EsiSource(page=page, last_modified=generation(gen), etag=f'"g{gen}p{page}"'),
        contracts=contracts,
    )


def sweep(contract_ids: list[int], *, gen: int, region: int = REGION) -> RegionSweep:
    return RegionSweep(
        region_id=region,
        generation=generation(gen),
        swept_at=generation(gen) + timedelta(minutes=2),
        pages=1,
        contract_ids=contract_ids,
    )


def bids(contract_id: int, bid_ids: list[int], *, gen: int = 0, region: int = REGION) -> BidsBatch:
    return BidsBatch(
        region_id=region,
        fetched_at=generation(gen) + timedelta(minutes=3),
        auctions=[
            AuctionBids(
                contract_id=contract_id,
                bids=[
                    EsiBid(bid_id=b, date_bid=generation(gen), amount=1000.0 * b) for b in bid_ids
                ],
            )
        ],
    )


#: The reference tables a test empties to watch reference data arrive (the template database
#: holds the SDE catalog, as ``hangar-bay migrate`` leaves a database).
REFERENCE_TABLES = (
    "sde_builds, item_types, item_groups, item_categories, market_groups, meta_groups,"
    " entity_names, stations, solar_systems, constellations"
)
