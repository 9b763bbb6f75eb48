"""What matching a batch reads, as PostgreSQL's own plan counts it (no clock involved): the
items of the batch's contracts are looked up at most once per contract of the batch, never once
per (contract, watchlist) pair, whatever the planner estimates for the batch.

Before matching read the batch's items first, ``bench_alert_latency`` and ``bench_notifier``
met the pair-wise plan from the fourth 1000-contract batch on: the batch's CTE was estimated at
a handful of rows, so the planner crossed every contract with every watchlist and probed
``contract_items`` by type for each pair (615,514 index probes and 2.9 s for 1000 contracts
and 900 watchlists, against about 40 ms for the first batches). It is the state of tables
that grew by a burst since their last ANALYZE (a fresh database's first sweeps, a replay):
the test pins it by keeping autovacuum off its own database's contract tables.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from random import Random
from typing import Any

import asyncpg
import orjson

from common.db import asyncpg_dsn
from common.esi_models import EsiItem
from common.messages import ContractWithItems
from common.settings import HangarSettings
from services.notifier.matching import MATCH_STATEMENT
from tests.support import factories as f
from tests.support.accounts import new_account
from tests.support.notifier import persist, save_search
from tests.support.stream import jetstream, publish

BATCHES = 4
PER_BATCH = 1000
WATCHLISTS = 300


def _contract(rng: Random, contract_id: int) -> ContractWithItems:
    contract = f.contract(contract_id, items=0, price=float(rng.choice((1e5, 1e7, 1e9))))
    items = [
        EsiItem(
            record_id=contract_id * 10 + n,
            type_id=rng.randint(1000, 3000),
            quantity=1,
            is_included=True,
            item_id=contract_id * 10 + n + 10**12,
        )
        for n in range(rng.randint(1, 6))
    ]
    return contract.model_copy(update={"items": items})


def _relation_loops(plan: dict[str, Any], relation: str) -> int:
    """How many times the plan scanned ``relation`` (its scans' loops, summed)."""
    loops = int(plan.get("Actual Loops", 0)) if plan.get("Relation Name") == relation else 0
    return loops + sum(_relation_loops(child, relation) for child in plan.get("Plans", []))


async def test_a_batch_is_matched_without_probing_items_per_contract_and_watchlist(
    settings: HangarSettings,
) -> None:
    rng = Random(5)
    connection = await asyncpg.connect(asyncpg_dsn(settings.database_url))
    try:
        for table in ("contracts", "contract_items"):
            await connection.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")
    finally:
        await connection.close()
    account, _ = await new_account(settings.database_url, "trader")
    for _ in range(WATCHLISTS):
        await save_search(
            settings.database_url,
            account,
            {
                "name": "watch",
                "filters": {"contains_type_id": [rng.randint(1000, 3000)], "max_price": 1e8},
            },
        )
    batches = [
        f.batch([_contract(rng, page * PER_BATCH + n) for n in range(PER_BATCH)], page=page)
        for page in range(1, BATCHES + 1)
    ]
    async with jetstream(settings) as (_, js):
        await publish(js, settings, *batches)
        await persist(settings)

    connection = await asyncpg.connect(asyncpg_dsn(settings.database_url))
    try:
        last = [contract.contract_id for contract in batches[-1].contracts]
        transaction = connection.transaction()
        await transaction.start()
        try:
            explained = await connection.fetchval(
                "EXPLAIN (ANALYZE, FORMAT JSON) " + MATCH_STATEMENT,
                last,
                datetime.now(UTC) + timedelta(minutes=1),
            )
        finally:
            await transaction.rollback()
    finally:
        await connection.close()
    plan = orjson.loads(explained)[0]["Plan"]
    assert _relation_loops(plan, "contract_items") <= PER_BATCH
