"""content filter plans: offered items by contract, couriers by region and reward per m³,
statistics the planner needs for the content filters

- ``ix_contract_items_offered_type`` (contract_id, type_id) of offered items: the probe of a
  contract's items by type (category, group, market group, contained type) reads the index
  alone, cheap enough that walking the contracts in the asked order beats collecting every
  item of the types first.
- ``ix_contracts_region_status_reward_per_m3``: couriers of one region in reward-per-m³
  order, partial (only couriers have a value).
- ``ix_contracts_region_status_reward``: one region in reward order, like its issued-date and
  price indexes; without it the walk of all regions' rewards from the top passes every courier
  of the other regions (and, under a filter on items, every courier) first.
- ``contract_items.contract_id`` sampled with a statistics target of 1000: at the default the
  distinct count comes out at a third of the true one (items are stored by contract), so a
  contract seems to hold three times its items and every probe of them looks too dear.
- Multivariate statistics (MCV) of the blueprint-copy summary columns: ``has_bpc`` and the
  ranges are set together, and ME / TE bounds go together; estimated as independent, the
  blueprint filters match a fraction of the contracts they do.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 13:15:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ITEMS_CONTRACT_STATISTICS = 1000
#: name -> the contracts columns it covers: the lower bounds' columns, the upper bounds' ones.
BPC_STATISTICS = {
    "st_contracts_bpc_high": ("has_bpc", "bpc_me_max", "bpc_te_max", "bpc_runs_min"),
    "st_contracts_bpc_low": ("has_bpc", "bpc_me_min", "bpc_te_min", "bpc_runs_max"),
}


def upgrade() -> None:
    op.create_index(
        "ix_contract_items_offered_type",
        "contract_items",
        ["contract_id", "type_id"],
        postgresql_where=sa.text("is_included"),
    )
    op.create_index(
        "ix_contracts_region_status_reward_per_m3",
        "contracts",
        ["region_id", "status", "reward_per_m3", "contract_id"],
        postgresql_where=sa.text("reward_per_m3 IS NOT NULL"),
    )
    op.create_index(
        "ix_contracts_region_status_reward",
        "contracts",
        ["region_id", "status", "reward", "contract_id"],
    )
    op.execute(
        "ALTER TABLE contract_items ALTER COLUMN contract_id "
        f"SET STATISTICS {ITEMS_CONTRACT_STATISTICS}"
    )
    for name, columns in BPC_STATISTICS.items():
        op.execute(f"CREATE STATISTICS {name} (mcv) ON {', '.join(columns)} FROM contracts")
    # The new statistics are empty until the next ANALYZE: gather them now.
    op.execute("ANALYZE contracts")
    op.execute("ANALYZE contract_items")


def downgrade() -> None:
    for name in BPC_STATISTICS:
        op.execute(f"DROP STATISTICS IF EXISTS {name}")
    op.execute("ALTER TABLE contract_items ALTER COLUMN contract_id SET STATISTICS -1")
    op.drop_index("ix_contracts_region_status_reward", table_name="contracts")
    op.drop_index("ix_contracts_region_status_reward_per_m3", table_name="contracts")
    op.drop_index("ix_contract_items_offered_type", table_name="contract_items")
