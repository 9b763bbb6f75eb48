"""One contract with its items and bids, regions' freshness, counts, a readiness ping: the
statements that run through a SQLAlchemy connection (``SessionDep``), not the list's hot path."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, literal, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from common.db import STATUS_OUTSTANDING
from services.api.queries.columns import (
    BID_COLUMNS,
    ITEM_COLUMNS,
    SUMMARY_COLUMNS,
    Row,
    bids,
    contracts,
    items,
    sweeps,
)


@dataclass(frozen=True, slots=True)
class ContractWithParts:
    contract: Row
    items: list[Row]
    bids: list[Row]


async def get_contract(connection: AsyncConnection, contract_id: int) -> ContractWithParts | None:
    found = await connection.execute(
        select(*SUMMARY_COLUMNS).where(contracts.c.contract_id == contract_id)
    )
    contract = found.mappings().first()
    if contract is None:
        return None
    item_rows = await connection.execute(
        select(*ITEM_COLUMNS).where(items.c.contract_id == contract_id).order_by(items.c.record_id)
    )
    bid_rows = await connection.execute(
        select(*BID_COLUMNS)
        .where(bids.c.contract_id == contract_id)
        .order_by(bids.c.amount.desc(), bids.c.bid_id)
    )
    return ContractWithParts(
        contract, list(item_rows.mappings().all()), list(bid_rows.mappings().all())
    )


async def region_freshness(connection: AsyncConnection) -> list[Row]:
    """Every region with a sweep or a contract: its newest sweep and outstanding count."""
    outstanding = (
        select(contracts.c.region_id, func.count().label("outstanding_contracts"))
        .where(contracts.c.status == STATUS_OUTSTANDING)
        .group_by(contracts.c.region_id)
        .subquery("outstanding")
    )
    region_id = func.coalesce(sweeps.c.region_id, outstanding.c.region_id).label("region_id")
    statement = (
        select(
            region_id,
            sweeps.c.swept_at.label("last_sweep_at"),
            sweeps.c.generation,
            sweeps.c.contract_count.label("swept_contracts"),
            func.coalesce(outstanding.c.outstanding_contracts, 0).label("outstanding_contracts"),
        )
        .select_from(
            sweeps.join(outstanding, sweeps.c.region_id == outstanding.c.region_id, full=True)
        )
        .order_by(region_id)
    )
    return list((await connection.execute(statement)).mappings().all())


@dataclass(frozen=True, slots=True)
class StatsRows:
    by_status: dict[str, int]
    by_region: dict[int, dict[str, int]]
    by_type: dict[str, dict[str, int]]


async def contract_stats(connection: AsyncConnection) -> StatsRows:
    """Counts by status, by region and status, by type and status: one scan."""
    statement = select(
        contracts.c.status, contracts.c.region_id, contracts.c.type, func.count().label("contracts")
    ).group_by(
        func.grouping_sets(
            tuple_(contracts.c.status),
            tuple_(contracts.c.status, contracts.c.region_id),
            tuple_(contracts.c.status, contracts.c.type),
        )
    )
    stats = StatsRows({}, {}, {})
    for status, region_id, contract_type, count in (await connection.execute(statement)).all():
        if region_id is not None:
            stats.by_region.setdefault(region_id, {})[status] = count
        elif contract_type is not None:
            stats.by_type.setdefault(contract_type, {})[status] = count
        else:
            stats.by_status[status] = count
    return stats


async def ping(connection: AsyncConnection) -> None:
    await connection.execute(select(literal(1)))
