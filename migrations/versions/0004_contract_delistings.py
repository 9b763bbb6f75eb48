"""contract_delistings: delistings applied before their contracts batch

A ``ContractsDelisted`` message applied before the batch that brings its contracts (two fetches
applied at once, a late redelivery, a replay's parallel applies) found nothing to mark gone,
and the batch then landed outstanding: not what applying them in stream order makes. The
delisting now leaves a note for each contract it did not find; the batch reads it.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 19:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "contract_delistings",
        sa.Column("contract_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("region_id", sa.BigInteger(), nullable=False),
        sa.Column("gone_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source_last_modified", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        # a contract may disappear, come back and disappear again before its batch arrives
        sa.PrimaryKeyConstraint("contract_id", "gone_at"),
    )


def downgrade() -> None:
    op.drop_table("contract_delistings")
