"""saved searches: content filters and match keys

A saved search takes the content filters of ``GET /v1/contracts`` (q, ship, category, group,
blueprint copies, system, reward per m3, market group, security class) as typed columns.
Searches without item types are filed under match keys (``saved_search_keys``), through which
a batch's contracts find only the searches that can match them; the searches already saved are
filed here, by the rule of ``common/search_keys.py`` as it stands for the filters they can have
(no content filter).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 09:45:00.000000
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CONTENT_COLUMNS: tuple[tuple[str, sa.types.TypeEngine[Any]], ...] = (
    ("ship", sa.Boolean()),
    ("category_id", sa.Integer()),
    ("group_id", sa.Integer()),
    ("bpc", sa.Boolean()),
    ("min_runs", sa.Integer()),
    ("max_runs", sa.Integer()),
    ("min_me", sa.Integer()),
    ("max_me", sa.Integer()),
    ("min_te", sa.Integer()),
    ("max_te", sa.Integer()),
    ("system_id", sa.BigInteger()),
    ("min_reward_per_m3", sa.Double()),
    ("market_group_id", sa.Integer()),
    ("security", sa.Text()),
)

_FILE_EXISTING_SEARCHES = """
INSERT INTO saved_search_keys (match_key, search_id)
SELECT DISTINCT k.match_key, s.search_id
FROM saved_searches AS s
CROSS JOIN LATERAL unnest(CASE
    WHEN s.issuer_id IS NOT NULL THEN ARRAY['issuer:' || s.issuer_id]
    WHEN s.issuer_corporation_id IS NOT NULL
        THEN ARRAY['issuer_corporation:' || s.issuer_corporation_id]
    WHEN s.end_location_id IS NOT NULL THEN ARRAY['end_location:' || s.end_location_id]
    WHEN s.start_location_id IS NOT NULL THEN ARRAY['start_location:' || s.start_location_id]
    WHEN cardinality(s.region_ids) > 0
        THEN ARRAY(SELECT 'region:' || r FROM unnest(s.region_ids) AS r)
    WHEN cardinality(s.contract_types) > 0
        THEN ARRAY(SELECT 'type:' || t FROM unnest(s.contract_types) AS t)
    ELSE ARRAY['any']
END) AS k(match_key)
WHERE NOT s.has_type_filter
"""


def upgrade() -> None:
    op.add_column(
        "saved_searches",
        sa.Column(
            "q_pattern",
            sa.Text(),
            nullable=True,
            comment="regular expression of the q filter (services/api/name_filters.py)",
        ),
    )
    for name, type_ in _CONTENT_COLUMNS:
        op.add_column("saved_searches", sa.Column(name, type_, nullable=True))
    op.create_table(
        "saved_search_keys",
        sa.Column("match_key", sa.Text(), nullable=False),
        sa.Column("search_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["search_id"], ["saved_searches.search_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("match_key", "search_id"),
    )
    op.create_index("ix_saved_search_keys_search_id", "saved_search_keys", ["search_id"])
    op.execute(_FILE_EXISTING_SEARCHES)
    op.drop_index("ix_saved_searches_without_types", table_name="saved_searches")


def downgrade() -> None:
    # Searches with content filters would match more than asked without their columns.
    op.execute(
        "DELETE FROM saved_searches WHERE q_pattern IS NOT NULL OR num_nonnulls("
        + ", ".join(name for name, _ in _CONTENT_COLUMNS)
        + ") > 0"
    )
    op.create_index(
        "ix_saved_searches_without_types",
        "saved_searches",
        ["search_id"],
        postgresql_where=sa.text("NOT has_type_filter"),
    )
    op.drop_index("ix_saved_search_keys_search_id", table_name="saved_search_keys")
    op.drop_table("saved_search_keys")
    for name, _ in reversed(_CONTENT_COLUMNS):
        op.drop_column("saved_searches", name)
    op.drop_column("saved_searches", "q_pattern")
