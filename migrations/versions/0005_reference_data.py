"""reference data: the type catalog, location and party names, contracts' derived fields

The catalog tables are filled by the SDE loader that ``hangar-bay migrate`` runs after the
schema (keyed by the SDE build); names resolved from ESI arrive as reference messages. The
derived fields of contracts are computed by the persister (and recomputed when reference data
lands); this revision adds them empty, and the SDE loader's first run computes them for the
contracts already held.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 06:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REWARD_PER_M3 = "CASE WHEN type = 'courier' AND volume > 0 THEN reward::float8 / volume END"


def _resolved_at() -> sa.Column[object]:
    return sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_table(
        "sde_builds",
        sa.Column("package", sa.Text(), nullable=False),
        sa.Column("build_number", sa.Integer(), nullable=False),
        sa.Column("package_version", sa.Text(), nullable=False),
        sa.Column("release_date", sa.Text(), nullable=True),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("package"),
    )
    op.create_table(
        "item_categories",
        sa.Column("category_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("published", sa.Boolean(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("category_id"),
    )
    op.create_table(
        "item_groups",
        sa.Column("group_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("category_id", sa.Integer(), nullable=False),
        sa.Column("published", sa.Boolean(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("group_id"),
    )
    op.create_index("ix_item_groups_category", "item_groups", ["category_id"])
    op.create_table(
        "market_groups",
        sa.Column("market_group_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("market_group_id"),
    )
    op.create_index("ix_market_groups_parent", "market_groups", ["parent_id"])
    op.create_table(
        "meta_groups",
        sa.Column("meta_group_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("meta_group_id"),
    )
    op.create_table(
        "item_types",
        sa.Column("type_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("category_id", sa.Integer(), nullable=False),
        sa.Column("published", sa.Boolean(), nullable=False),
        sa.Column("market_group_id", sa.Integer(), nullable=True),
        sa.Column("meta_group_id", sa.Integer(), nullable=True),
        sa.Column("volume", sa.Double(), nullable=True),
        sa.Column("source", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("type_id"),
    )
    op.create_index("ix_item_types_group", "item_types", ["group_id"])
    op.create_index("ix_item_types_category", "item_types", ["category_id"])
    op.create_index("ix_item_types_market_group", "item_types", ["market_group_id"])
    op.create_index(
        "ix_item_types_name_trgm",
        "item_types",
        ["name"],
        postgresql_using="gin",
        postgresql_ops={"name": "gin_trgm_ops"},
    )
    op.create_table(
        "entity_names",
        sa.Column("entity_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("category", sa.Text(), nullable=False),
        _resolved_at(),
        sa.PrimaryKeyConstraint("entity_id"),
    )
    op.create_table(
        "stations",
        sa.Column("station_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("system_id", sa.BigInteger(), nullable=False),
        _resolved_at(),
        sa.PrimaryKeyConstraint("station_id"),
    )
    op.create_index("ix_stations_system", "stations", ["system_id"])
    op.create_table(
        "solar_systems",
        sa.Column("system_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("constellation_id", sa.BigInteger(), nullable=False),
        sa.Column("security_status", sa.Double(), nullable=False),
        _resolved_at(),
        sa.PrimaryKeyConstraint("system_id"),
    )
    op.create_table(
        "constellations",
        sa.Column("constellation_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("region_id", sa.BigInteger(), nullable=False),
        _resolved_at(),
        sa.PrimaryKeyConstraint("constellation_id"),
    )

    op.add_column(
        "contracts",
        sa.Column("is_ship", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )
    op.add_column("contracts", sa.Column("primary_label", sa.Text(), nullable=True))
    op.add_column(
        "contracts",
        sa.Column("item_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )
    op.add_column(
        "contracts",
        sa.Column("has_bpc", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )
    for bound in ("runs", "me", "te"):
        for end in ("min", "max"):
            op.add_column("contracts", sa.Column(f"bpc_{bound}_{end}", sa.Integer(), nullable=True))
    op.add_column(
        "contracts",
        sa.Column(
            "search_text",
            sa.Text(),
            nullable=True,
            comment="lower-case label, title and offered type names: the trigram search",
        ),
    )
    op.add_column(
        "contracts",
        sa.Column(
            "reward_per_m3", sa.Double(), sa.Computed(REWARD_PER_M3, persisted=True), nullable=True
        ),
    )
    op.create_index(
        "ix_contracts_ship_status_price",
        "contracts",
        ["status", "price", "contract_id"],
        postgresql_where=sa.text("is_ship"),
    )
    op.create_index(
        "ix_contracts_bpc_status_me",
        "contracts",
        ["status", "bpc_me_max", "contract_id"],
        postgresql_where=sa.text("has_bpc"),
    )
    op.create_index(
        "ix_contracts_status_reward_per_m3",
        "contracts",
        ["status", "reward_per_m3", "contract_id"],
    )
    op.create_index(
        "ix_contract_items_bpc_contract",
        "contract_items",
        ["contract_id", "material_efficiency", "runs", "time_efficiency"],
        postgresql_where=sa.text("is_blueprint_copy"),
    )
    op.create_index(
        "ix_contracts_search_trgm",
        "contracts",
        ["search_text"],
        postgresql_using="gin",
        postgresql_ops={"search_text": "gin_trgm_ops"},
    )


def downgrade() -> None:
    op.drop_index("ix_contract_items_bpc_contract", table_name="contract_items")
    for index in (
        "ix_contracts_search_trgm",
        "ix_contracts_status_reward_per_m3",
        "ix_contracts_bpc_status_me",
        "ix_contracts_ship_status_price",
    ):
        op.drop_index(index, table_name="contracts")
    for column in (
        "reward_per_m3",
        "search_text",
        *(f"bpc_{b}_{e}" for b in ("runs", "me", "te") for e in ("min", "max")),
        "has_bpc",
        "item_count",
        "primary_label",
        "is_ship",
    ):
        op.drop_column("contracts", column)
    for table in (
        "constellations",
        "solar_systems",
        "stations",
        "entity_names",
        "item_types",
        "meta_groups",
        "market_groups",
        "item_groups",
        "item_categories",
        "sde_builds",
    ):
        op.drop_table(table)
