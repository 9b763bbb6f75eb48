"""region_sweeps keeps the newest sweep's listing

A contracts batch that reaches the persister after a newer sweep of its region (JetStream
redelivers late what a crashed fetch left unacknowledged) must not make a contract outstanding
that this sweep no longer lists: the upsert now reads the listing.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 15:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "region_sweeps",
        sa.Column(
            "contract_ids",
            postgresql.ARRAY(sa.BigInteger()),
            server_default=sa.text("'{}'"),
            nullable=False,
            comment="The sweep's listing: decides a contracts batch that arrives after it",
        ),
    )


def downgrade() -> None:
    op.drop_column("region_sweeps", "contract_ids")
