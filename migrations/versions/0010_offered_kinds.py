"""offered kinds: each contract's offered categories, groups and market groups, indexed

- ``market_groups.path``: the group and every group above it, kept by the SDE loader.
- ``contracts.offered_category_ids``, ``offered_group_ids``, ``offered_market_group_ids``
  (each offered type's market group and the groups above it): derived fields, written with
  the others (``common.derived_fields``), filled here for the contracts already stored.
- ``ix_contracts_offered_kinds``: one GIN index over the three. A filter on a category, a
  group or a market group's subtree is a test of the contract's own row (``@>``), which the
  index answers alone or beside any other index on contracts; before, it was a probe of the
  contract's items, and a count of a common category in one region read every item.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 16:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ARRAYS = (
    ("offered_category_ids", "categories of the offered items"),
    ("offered_group_ids", "groups of the offered items"),
    ("offered_market_group_ids", "market groups of the offered items and every group above them"),
)

_MARKET_GROUP_PATHS = """
WITH RECURSIVE walk (market_group_id, ancestor_id, depth) AS (
    SELECT market_group_id, market_group_id, 0 FROM market_groups
    UNION ALL
    SELECT w.market_group_id, above.market_group_id, w.depth + 1
    FROM walk AS w
    JOIN market_groups AS g ON g.market_group_id = w.ancestor_id
    JOIN market_groups AS above ON above.market_group_id = g.parent_id
    WHERE w.depth < 64
)
UPDATE market_groups AS t SET path = p.path
FROM (SELECT market_group_id, array_agg(ancestor_id ORDER BY depth) AS path
      FROM walk GROUP BY market_group_id) AS p
WHERE t.market_group_id = p.market_group_id
"""

_FILL_CONTRACTS = """
WITH offered AS (
    SELECT i.contract_id, t.category_id, t.group_id, m.path
    FROM contract_items AS i
    JOIN item_types AS t ON t.type_id = i.type_id
    LEFT JOIN market_groups AS m ON m.market_group_id = t.market_group_id
    WHERE i.is_included
),
kinds AS (
    SELECT o.contract_id,
        coalesce(array_agg(DISTINCT o.category_id) FILTER (WHERE o.category_id IS NOT NULL),
                 '{}') AS category_ids,
        coalesce(array_agg(DISTINCT o.group_id) FILTER (WHERE o.group_id IS NOT NULL),
                 '{}') AS group_ids
    FROM offered AS o GROUP BY o.contract_id
),
markets AS (
    SELECT o.contract_id, array_agg(DISTINCT g) AS market_group_ids
    FROM offered AS o CROSS JOIN LATERAL unnest(o.path) AS g
    GROUP BY o.contract_id
)
UPDATE contracts AS c SET
    offered_category_ids = k.category_ids,
    offered_group_ids = k.group_ids,
    offered_market_group_ids = coalesce(m.market_group_ids, '{}')
FROM kinds AS k
LEFT JOIN markets AS m ON m.contract_id = k.contract_id
WHERE c.contract_id = k.contract_id
"""


def upgrade() -> None:
    op.add_column(
        "market_groups",
        sa.Column(
            "path",
            sa.ARRAY(sa.Integer()),
            server_default=sa.text("'{}'"),
            nullable=False,
            comment="this group and every group above it (kept by the SDE loader)",
        ),
    )
    for name, comment in _ARRAYS:
        op.add_column(
            "contracts",
            sa.Column(
                name,
                sa.ARRAY(sa.Integer()),
                server_default=sa.text("'{}'"),
                nullable=False,
                comment=comment,
            ),
        )
    op.execute(_MARKET_GROUP_PATHS)
    op.execute(_FILL_CONTRACTS)
    op.create_index(
        "ix_contracts_offered_kinds",
        "contracts",
        [name for name, _ in _ARRAYS],
        postgresql_using="gin",
    )
    op.execute("ANALYZE contracts")


def downgrade() -> None:
    op.drop_index("ix_contracts_offered_kinds", table_name="contracts")
    for name, _ in reversed(_ARRAYS):
        op.drop_column("contracts", name)
    op.drop_column("market_groups", "path")
