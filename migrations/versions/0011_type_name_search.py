"""type name search: a stored lower-case name, with a trigram and a prefix index on it

``GET /v1/types`` ranks the exact name, then names starting with the text, then the others.
``item_types.name_lower`` (generated, stored) spares the search a case fold per row, which
``ILIKE`` and ``lower(name)`` each cost on every candidate. Its prefix index (``text_pattern_ops``)
finds the names starting with the text; its trigram index finds the names holding it, and
replaces the trigram index on ``name``, which nothing else used. Without GIN's pending list
(as in 0007): types are written rarely, in batches.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 19:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "item_types",
        sa.Column(
            "name_lower", sa.Text(), sa.Computed("lower(name)", persisted=True), nullable=False
        ),
    )
    op.drop_index("ix_item_types_name_trgm", table_name="item_types")
    op.create_index(
        "ix_item_types_name_lower_trgm",
        "item_types",
        ["name_lower"],
        postgresql_using="gin",
        postgresql_ops={"name_lower": "gin_trgm_ops"},
        postgresql_with={"fastupdate": "off"},
    )
    op.create_index(
        "ix_item_types_name_lower_prefix",
        "item_types",
        ["name_lower"],
        postgresql_ops={"name_lower": "text_pattern_ops"},
    )
    op.execute("ANALYZE item_types")


def downgrade() -> None:
    op.drop_index("ix_item_types_name_lower_prefix", table_name="item_types")
    op.drop_index("ix_item_types_name_lower_trgm", table_name="item_types")
    op.create_index(
        "ix_item_types_name_trgm",
        "item_types",
        ["name"],
        postgresql_using="gin",
        postgresql_ops={"name": "gin_trgm_ops"},
    )
    op.drop_column("item_types", "name_lower")
