"""``GET /v1/taxonomy``'s answer: item categories and their groups, each with the number of
outstanding contracts offering an item of it.

Counting reads the offered categories and groups (derived arrays) of every outstanding
contract, so the answer is computed at most once per ``taxonomy_cache_s`` by the whole
deployment (``kit.shared_cache``: Redis, then each process) under a statement timeout of its own
(``taxonomy_timeout_ms``; the API's sessions otherwise stop a statement after a few seconds),
and served from there. Shown: categories and groups that are published or have contracts.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

import asyncpg

from common.db import STATUS_OUTSTANDING
from services.api.name_schemas import Taxonomy, TaxonomyCategory, TaxonomyGroup

_WORK_MEM: Final = "64MB"
_COUNTS: Final = f"""
WITH outstanding AS (
    SELECT offered_category_ids, offered_group_ids FROM contracts
    WHERE status = '{STATUS_OUTSTANDING}'
),
by_group AS (
    SELECT g.group_id, count(*) AS contracts
    FROM outstanding AS o CROSS JOIN LATERAL unnest(o.offered_group_ids) AS g(group_id)
    GROUP BY g.group_id
),
by_category AS (
    SELECT k.category_id, count(*) AS contracts
    FROM outstanding AS o CROSS JOIN LATERAL unnest(o.offered_category_ids) AS k(category_id)
    GROUP BY k.category_id
)
SELECT k.category_id, k.name AS category_name, k.published AS category_published,
       coalesce(kc.contracts, 0) AS category_contracts,
       g.group_id, g.name AS group_name, g.published AS group_published,
       coalesce(gc.contracts, 0) AS group_contracts
FROM item_categories AS k
LEFT JOIN by_category AS kc ON kc.category_id = k.category_id
LEFT JOIN item_groups AS g ON g.category_id = k.category_id
LEFT JOIN by_group AS gc ON gc.group_id = g.group_id
WHERE k.published OR kc.contracts > 0
ORDER BY k.name, k.category_id, g.name, g.group_id
"""


async def compute_taxonomy(connection: asyncpg.Connection, timeout_ms: int) -> Taxonomy:
    computed_at = datetime.now(UTC)
    async with connection.transaction(readonly=True):
        # Its own limits, for this transaction only: a longer timeout, and memory to hash the
        # distinct (group, contract) pairs rather than spill them to disk.
        await connection.execute(
            "SELECT set_config('statement_timeout', $1, true), set_config('work_mem', $2, true)",
            str(timeout_ms),
            _WORK_MEM,
        )
        rows = await connection.fetch(_COUNTS)
    categories: dict[int, TaxonomyCategory] = {}
    for row in rows:
        category = categories.get(row["category_id"])
        if category is None:
            category = categories[row["category_id"]] = TaxonomyCategory(
                category_id=row["category_id"],
                name=row["category_name"],
                published=row["category_published"],
                outstanding_contracts=row["category_contracts"],
                groups=[],
            )
        if row["group_id"] is not None and (row["group_published"] or row["group_contracts"]):
            category.groups.append(
                TaxonomyGroup(
                    group_id=row["group_id"],
                    name=row["group_name"],
                    published=row["group_published"],
                    outstanding_contracts=row["group_contracts"],
                )
            )
    return Taxonomy(computed_at=computed_at, categories=list(categories.values()))
