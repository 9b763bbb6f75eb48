"""accounts, API keys, saved searches and alerts

Accounts own saved searches; the notifier records one alert per (search, contract) and queues
its webhook call. None of it is in the stream: a replay neither rebuilds nor needs it.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 06:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOW = sa.text("now()")


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("account_id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.PrimaryKeyConstraint("account_id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.Text(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("key_hash", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.account_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("key_id"),
    )
    op.create_index("ix_api_keys_account_id", "api_keys", ["account_id"])
    op.create_table(
        "saved_searches",
        sa.Column("search_id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("filters", postgresql.JSONB(), nullable=False),
        sa.Column(
            "region_ids",
            postgresql.ARRAY(sa.BigInteger()),
            server_default=sa.text("'{}'"),
            nullable=False,
        ),
        sa.Column(
            "contract_types",
            postgresql.ARRAY(sa.Text()),
            server_default=sa.text("'{}'"),
            nullable=False,
        ),
        *(
            sa.Column(name, sa.Numeric(), nullable=True)
            for name in (
                "min_price",
                "max_price",
                "min_reward",
                "max_reward",
                "min_collateral",
                "max_collateral",
            )
        ),
        sa.Column("min_volume", sa.Double(), nullable=True),
        sa.Column("max_volume", sa.Double(), nullable=True),
        *(
            sa.Column(name, sa.DateTime(timezone=True), nullable=True)
            for name in ("issued_after", "issued_before", "expires_after", "expires_before")
        ),
        *(
            sa.Column(name, sa.BigInteger(), nullable=True)
            for name in (
                "start_location_id",
                "end_location_id",
                "issuer_id",
                "issuer_corporation_id",
            )
        ),
        sa.Column(
            "has_type_filter",
            sa.Boolean(),
            nullable=False,
            comment="contains_type_id given: matched through saved_search_types",
        ),
        sa.Column("include_requested", sa.Boolean(), nullable=False),
        sa.Column(
            "title_pattern",
            sa.Text(),
            nullable=True,
            comment="ILIKE pattern of the title filter, wildcards of the text escaped",
        ),
        sa.Column("webhook_url", sa.Text(), nullable=True),
        sa.Column("webhook_secret", sa.Text(), nullable=True),
        sa.Column("max_alerts_per_hour", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.CheckConstraint(
            "max_alerts_per_hour IS NULL OR max_alerts_per_hour > 0",
            name="ck_saved_searches_max_alerts",
        ),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.account_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("search_id"),
    )
    op.create_index("ix_saved_searches_account", "saved_searches", ["account_id", "search_id"])
    op.create_index(
        "ix_saved_searches_without_types",
        "saved_searches",
        ["search_id"],
        postgresql_where=sa.text("NOT has_type_filter"),
    )
    op.create_table(
        "saved_search_types",
        sa.Column("type_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("search_id", sa.BigInteger(), nullable=False),
        sa.Column("include_requested", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["search_id"], ["saved_searches.search_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("type_id", "search_id"),
    )
    op.create_index("ix_saved_search_types_search_id", "saved_search_types", ["search_id"])
    op.create_table(
        "alerts",
        sa.Column("alert_id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("search_id", sa.BigInteger(), nullable=False),
        sa.Column("contract_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "throttled",
            sa.Boolean(),
            server_default=sa.text("false"),
            nullable=False,
            comment="Over the search's max_alerts_per_hour: kept, but neither pushed nor sent",
        ),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.account_id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["search_id"], ["saved_searches.search_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("alert_id"),
        sa.UniqueConstraint("search_id", "contract_id", name="uq_alerts_search_contract"),
    )
    op.create_index("ix_alerts_account", "alerts", ["account_id", "alert_id"])
    op.create_index("ix_alerts_search_created", "alerts", ["search_id", "created_at"])
    op.create_table(
        "webhook_deliveries",
        sa.Column("alert_id", sa.BigInteger(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), server_default=sa.text("'pending'"), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "next_attempt_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False
        ),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'delivered', 'failed')", name="ck_webhook_deliveries_status"
        ),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.alert_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("alert_id"),
    )
    op.create_index(
        "ix_webhook_deliveries_due",
        "webhook_deliveries",
        ["next_attempt_at"],
        postgresql_where=sa.text("status = 'pending'"),
    )


def downgrade() -> None:
    op.drop_table("webhook_deliveries")
    op.drop_table("alerts")
    op.drop_table("saved_search_types")
    op.drop_table("saved_searches")
    op.drop_table("api_keys")
    op.drop_table("accounts")
