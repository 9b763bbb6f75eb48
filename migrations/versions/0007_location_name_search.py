"""location name search: trigram indexes on the names of stations, systems and regions

``GET /v1/locations`` finds places by part of their name: stations, solar systems, and the
regions (and named structures) of ``entity_names``. The index on ``entity_names`` is partial:
the table mostly holds characters and corporations, which are never searched by name. Without
GIN's pending list (``fastupdate = off``): names are written rarely (reference data, in
batches), and a pending list makes the planner cost the index above a sequential scan until
a vacuum has merged it.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 09:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PLACE_CATEGORIES = "category IN ('region', 'structure')"


def _trigram_index(name: str, table: str, where: str | None = None) -> None:
    op.create_index(
        name,
        table,
        ["name"],
        postgresql_using="gin",
        postgresql_ops={"name": "gin_trgm_ops"},
        postgresql_where=sa.text(where) if where is not None else None,
        postgresql_with={"fastupdate": "off"},
    )


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    _trigram_index("ix_stations_name_trgm", "stations")
    _trigram_index("ix_solar_systems_name_trgm", "solar_systems")
    _trigram_index("ix_entity_names_place_name_trgm", "entity_names", PLACE_CATEGORIES)


def downgrade() -> None:
    op.drop_index("ix_entity_names_place_name_trgm", table_name="entity_names")
    op.drop_index("ix_solar_systems_name_trgm", table_name="solar_systems")
    op.drop_index("ix_stations_name_trgm", table_name="stations")
