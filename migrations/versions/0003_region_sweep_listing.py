"""region_sweeps keeps the newest sweep's listing

A contracts batch that reaches the persister after a newer sweep of its region (JetStream
redelivers late what a crashed fetch left unacknowledged) must not make a contract outstanding
that this sweep no longer lists: the upsert now reads the listing.

A sweep recorded before this revision kept no listing, and the contracts table cannot rebuild
it: the contracts a late batch brings are exactly those the table does not hold. Its listing is
therefore NULL, unknown, and a late batch against it lands as it did before this revision
(outstanding, as of its own generation) until the region's next sweep records a listing and
decides. An empty array would say the sweep listed nothing and mark every late contract gone.

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
            nullable=True,
            comment="The sweep's listing: decides a contracts batch that arrives after it"
            " (NULL: recorded before sweeps kept it, unknown)",
        ),
    )


def downgrade() -> None:
    op.drop_column("region_sweeps", "contract_ids")
