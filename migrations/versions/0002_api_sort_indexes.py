"""read-side indexes: sorting by volume and reward, filtering by end location

The API lists contracts with keyset pagination ordered by ``(sort column, contract_id)``
within one status. 0001 has indexes for price, date_issued and date_expired; these add the
two other sort keys, so every sort is an ordered index scan, and the end location filter.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 14:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_contracts_status_volume",
        "contracts",
        ["status", "volume", "contract_id"],
        unique=False,
    )
    op.create_index(
        "ix_contracts_status_reward",
        "contracts",
        ["status", "reward", "contract_id"],
        unique=False,
    )
    op.create_index("ix_contracts_end_location", "contracts", ["end_location_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_contracts_end_location", table_name="contracts")
    op.drop_index("ix_contracts_status_reward", table_name="contracts")
    op.drop_index("ix_contracts_status_volume", table_name="contracts")
