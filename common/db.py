"""The read model's tables (SQLAlchemy 2 typed models) and the engine factory.

PostgreSQL is used everywhere, so its types are used: 64-bit ids, ``numeric`` money,
``timestamptz``. Every field ESI marks optional is nullable.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    CheckConstraint,
    Computed,
    DateTime,
    Double,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY as PG_ARRAY
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

Money = Numeric(20, 2)
Timestamp = DateTime(timezone=True)

STATUS_OUTSTANDING = "outstanding"
STATUS_GONE = "gone"

#: A courier's reward per m³ of cargo (nothing for other contracts or an empty volume).
REWARD_PER_M3 = "CASE WHEN type = 'courier' AND volume > 0 THEN reward::float8 / volume END"


class Base(DeclarativeBase):
    pass


class Contract(Base):
    __tablename__ = "contracts"

    contract_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    region_id: Mapped[int] = mapped_column(BigInteger)
    type: Mapped[str] = mapped_column(Text)
    issuer_id: Mapped[int] = mapped_column(BigInteger)
    issuer_corporation_id: Mapped[int] = mapped_column(BigInteger)
    date_issued: Mapped[datetime] = mapped_column(Timestamp)
    date_expired: Mapped[datetime] = mapped_column(Timestamp)
    price: Mapped[Decimal | None] = mapped_column(Money)
    reward: Mapped[Decimal | None] = mapped_column(Money)
    collateral: Mapped[Decimal | None] = mapped_column(Money)
    buyout: Mapped[Decimal | None] = mapped_column(Money)
    volume: Mapped[float | None] = mapped_column(Double)
    days_to_complete: Mapped[int | None] = mapped_column(Integer)
    start_location_id: Mapped[int | None] = mapped_column(BigInteger)
    end_location_id: Mapped[int | None] = mapped_column(BigInteger)
    for_corporation: Mapped[bool | None] = mapped_column(Boolean)
    title: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, server_default=text("'outstanding'"))
    first_seen_at: Mapped[datetime] = mapped_column(Timestamp)
    last_seen_at: Mapped[datetime] = mapped_column(Timestamp)
    gone_at: Mapped[datetime | None] = mapped_column(Timestamp)
    source_last_modified: Mapped[datetime] = mapped_column(
        Timestamp, comment="ESI Last-Modified of the newest listing applied to this row"
    )
    # Derived from the items and the reference data (common/derived_fields.py).
    is_ship: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    primary_label: Mapped[str | None] = mapped_column(Text)
    item_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    has_bpc: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    bpc_runs_min: Mapped[int | None] = mapped_column(Integer)
    bpc_runs_max: Mapped[int | None] = mapped_column(Integer)
    bpc_me_min: Mapped[int | None] = mapped_column(Integer)
    bpc_me_max: Mapped[int | None] = mapped_column(Integer)
    bpc_te_min: Mapped[int | None] = mapped_column(Integer)
    bpc_te_max: Mapped[int | None] = mapped_column(Integer)
    search_text: Mapped[str | None] = mapped_column(
        Text, comment="lower-case label, title and offered type names: the trigram search"
    )
    offered_category_ids: Mapped[list[int]] = mapped_column(
        PG_ARRAY(Integer), server_default=text("'{}'"), comment="categories of the offered items"
    )
    offered_group_ids: Mapped[list[int]] = mapped_column(
        PG_ARRAY(Integer), server_default=text("'{}'"), comment="groups of the offered items"
    )
    offered_market_group_ids: Mapped[list[int]] = mapped_column(
        PG_ARRAY(Integer),
        server_default=text("'{}'"),
        comment="market groups of the offered items and every group above them",
    )
    reward_per_m3: Mapped[float | None] = mapped_column(
        Double, Computed(REWARD_PER_M3, persisted=True)
    )

    __table_args__ = (
        CheckConstraint("status IN ('outstanding', 'gone')", name="ck_contracts_status"),
        CheckConstraint("(status = 'gone') = (gone_at IS NOT NULL)", name="ck_contracts_gone_at"),
        Index("ix_contracts_status_issued", "status", "date_issued", "contract_id"),
        Index("ix_contracts_status_price", "status", "price", "contract_id"),
        Index("ix_contracts_status_expired", "status", "date_expired", "contract_id"),
        Index(
            "ix_contracts_region_status_issued", "region_id", "status", "date_issued", "contract_id"
        ),
        Index("ix_contracts_region_status_price", "region_id", "status", "price", "contract_id"),
        Index("ix_contracts_region_status_reward", "region_id", "status", "reward", "contract_id"),
        Index("ix_contracts_status_volume", "status", "volume", "contract_id"),
        Index("ix_contracts_status_reward", "status", "reward", "contract_id"),
        Index("ix_contracts_start_location", "start_location_id"),
        Index("ix_contracts_end_location", "end_location_id"),
        Index("ix_contracts_issuer", "issuer_id"),
        Index("ix_contracts_issuer_corporation", "issuer_corporation_id"),
        Index(
            "ix_contracts_ship_status_price",
            "status",
            "price",
            "contract_id",
            postgresql_where=text("is_ship"),
        ),
        Index(
            "ix_contracts_bpc_status_me",
            "status",
            "bpc_me_max",
            "contract_id",
            postgresql_where=text("has_bpc"),
        ),
        Index("ix_contracts_status_reward_per_m3", "status", "reward_per_m3", "contract_id"),
        Index(
            "ix_contracts_region_status_reward_per_m3",
            "region_id",
            "status",
            "reward_per_m3",
            "contract_id",
            postgresql_where=text("reward_per_m3 IS NOT NULL"),
        ),
        Index(
            "ix_contracts_search_trgm",
            "search_text",
            postgresql_using="gin",
            postgresql_ops={"search_text": "gin_trgm_ops"},
        ),
        Index(
            "ix_contracts_offered_kinds",
            "offered_category_ids",
            "offered_group_ids",
            "offered_market_group_ids",
            postgresql_using="gin",
        ),
    )


class ContractItem(Base):
    __tablename__ = "contract_items"

    record_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    contract_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("contracts.contract_id", ondelete="CASCADE")
    )
    type_id: Mapped[int] = mapped_column(BigInteger)
    quantity: Mapped[int] = mapped_column(BigInteger)
    is_included: Mapped[bool] = mapped_column(Boolean)
    item_id: Mapped[int | None] = mapped_column(BigInteger)
    is_blueprint_copy: Mapped[bool | None] = mapped_column(Boolean)
    material_efficiency: Mapped[int | None] = mapped_column(Integer)
    time_efficiency: Mapped[int | None] = mapped_column(Integer)
    runs: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (
        Index("ix_contract_items_contract", "contract_id"),
        Index("ix_contract_items_type_contract", "type_id", "contract_id"),
        Index(
            "ix_contract_items_offered_type",
            "contract_id",
            "type_id",
            postgresql_where=text("is_included"),
        ),
        Index(
            "ix_contract_items_bpc_contract",
            "contract_id",
            "material_efficiency",
            "runs",
            "time_efficiency",
            postgresql_where=text("is_blueprint_copy"),
        ),
    )


class ContractBid(Base):
    __tablename__ = "contract_bids"

    bid_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    contract_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("contracts.contract_id", ondelete="CASCADE")
    )
    amount: Mapped[Decimal] = mapped_column(Money)
    date_bid: Mapped[datetime] = mapped_column(Timestamp)

    __table_args__ = (Index("ix_contract_bids_contract", "contract_id"),)


class RegionSweepState(Base):
    """The newest complete sweep applied per region: the data's freshness."""

    __tablename__ = "region_sweeps"

    region_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    generation: Mapped[datetime] = mapped_column(Timestamp)
    swept_at: Mapped[datetime] = mapped_column(Timestamp)
    contract_count: Mapped[int] = mapped_column(Integer)
    contract_ids: Mapped[list[int] | None] = mapped_column(
        ARRAY(BigInteger),
        comment="The sweep's listing: decides a contracts batch that arrives after it"
        " (NULL: recorded before sweeps kept it, unknown)",
    )


class ContractDelisting(Base):
    """A delisting that found no contract to mark gone: its contracts batch had not been
    applied yet (a concurrent fetch, a late redelivery, a replay's parallel applies). The
    batch, when it comes, reads the earliest that is newer than itself, lands gone as applying
    them in stream order would, and removes the contract's notes."""

    __tablename__ = "contract_delistings"

    contract_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    gone_at: Mapped[datetime] = mapped_column(Timestamp, primary_key=True)
    region_id: Mapped[int] = mapped_column(BigInteger)
    source_last_modified: Mapped[datetime] = mapped_column(Timestamp)
    last_seen_at: Mapped[datetime] = mapped_column(Timestamp)


# --- reference data -------------------------------------------------------------------------
# The type catalog (from the SDE, and from ESI for types newer than it) and the names of
# locations and parties (from ESI). Catalog rows record where they came from (``source``): the
# SDE loader owns the ``sde`` rows; reference messages write ``esi`` rows, and a later SDE build
# that knows an id takes it over.

SOURCE_SDE = "sde"
SOURCE_ESI = "esi"
SHIP_CATEGORY_ID = 6
#: Player structures have ids from 10^12 up; their names need an authenticated ESI call.
FIRST_STRUCTURE_ID = 1_000_000_000_000


class SdeBuild(Base):
    """The SDE build loaded into the catalog tables, per package."""

    __tablename__ = "sde_builds"

    package: Mapped[str] = mapped_column(Text, primary_key=True)
    build_number: Mapped[int] = mapped_column(Integer)
    package_version: Mapped[str] = mapped_column(Text)
    release_date: Mapped[str | None] = mapped_column(Text)
    loaded_at: Mapped[datetime] = mapped_column(Timestamp)


class ItemCategory(Base):
    __tablename__ = "item_categories"

    category_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(Text)
    published: Mapped[bool] = mapped_column(Boolean)
    source: Mapped[str] = mapped_column(Text)


class ItemGroup(Base):
    __tablename__ = "item_groups"

    group_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(Text)
    category_id: Mapped[int] = mapped_column(Integer)
    published: Mapped[bool] = mapped_column(Boolean)
    source: Mapped[str] = mapped_column(Text)

    __table_args__ = (Index("ix_item_groups_category", "category_id"),)


class MarketGroup(Base):
    __tablename__ = "market_groups"

    market_group_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(Text)
    parent_id: Mapped[int | None] = mapped_column(Integer)
    path: Mapped[list[int]] = mapped_column(
        ARRAY(Integer),
        server_default=text("'{}'"),
        comment="this group and every group above it (kept by the SDE loader)",
    )

    __table_args__ = (Index("ix_market_groups_parent", "parent_id"),)


class MetaGroup(Base):
    __tablename__ = "meta_groups"

    meta_group_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(Text)


class ItemType(Base):
    """A type; ``category_id`` is its group's, kept here so filters need no join."""

    __tablename__ = "item_types"

    type_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(Text)
    #: What the type search matches and ranks on (a case fold per row, done once).
    name_lower: Mapped[str] = mapped_column(Text, Computed("lower(name)", persisted=True))
    group_id: Mapped[int] = mapped_column(Integer)
    category_id: Mapped[int] = mapped_column(Integer)
    published: Mapped[bool] = mapped_column(Boolean)
    market_group_id: Mapped[int | None] = mapped_column(Integer)
    meta_group_id: Mapped[int | None] = mapped_column(Integer)
    volume: Mapped[float | None] = mapped_column(Double)
    source: Mapped[str] = mapped_column(Text)

    __table_args__ = (
        Index("ix_item_types_group", "group_id"),
        Index("ix_item_types_category", "category_id"),
        Index("ix_item_types_market_group", "market_group_id"),
        Index(
            "ix_item_types_name_lower_trgm",
            "name_lower",
            postgresql_using="gin",
            postgresql_ops={"name_lower": "gin_trgm_ops"},
            postgresql_with={"fastupdate": "off"},
        ),
        Index(
            "ix_item_types_name_lower_prefix",
            "name_lower",
            postgresql_ops={"name_lower": "text_pattern_ops"},
        ),
    )


class EntityName(Base):
    """A name ``POST /universe/names`` gave: characters, corporations, alliances, regions,
    constellations, systems, stations (``category`` as ESI spells it)."""

    __tablename__ = "entity_names"

    entity_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(Text)
    resolved_at: Mapped[datetime] = mapped_column(Timestamp)

    __table_args__ = (
        Index(
            "ix_entity_names_place_name_trgm",
            "name",
            postgresql_using="gin",
            postgresql_ops={"name": "gin_trgm_ops"},
            postgresql_with={"fastupdate": "off"},
            postgresql_where=text("category IN ('region', 'structure')"),
        ),
    )


class Station(Base):
    __tablename__ = "stations"

    station_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(Text)
    system_id: Mapped[int] = mapped_column(BigInteger)
    resolved_at: Mapped[datetime] = mapped_column(Timestamp)

    __table_args__ = (
        Index("ix_stations_system", "system_id"),
        Index(
            "ix_stations_name_trgm",
            "name",
            postgresql_using="gin",
            postgresql_ops={"name": "gin_trgm_ops"},
            postgresql_with={"fastupdate": "off"},
        ),
    )


class SolarSystem(Base):
    __tablename__ = "solar_systems"

    system_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(Text)
    constellation_id: Mapped[int] = mapped_column(BigInteger)
    security_status: Mapped[float] = mapped_column(Double)
    resolved_at: Mapped[datetime] = mapped_column(Timestamp)

    __table_args__ = (
        Index(
            "ix_solar_systems_name_trgm",
            "name",
            postgresql_using="gin",
            postgresql_ops={"name": "gin_trgm_ops"},
            postgresql_with={"fastupdate": "off"},
        ),
    )


class Constellation(Base):
    __tablename__ = "constellations"

    constellation_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(Text)
    region_id: Mapped[int] = mapped_column(BigInteger)
    resolved_at: Mapped[datetime] = mapped_column(Timestamp)


#: Columns of ``contracts`` the persister keeps (a contract's message does not carry them).
CONTRACT_BOOKKEEPING_COLUMNS = (
    "status",
    "first_seen_at",
    "last_seen_at",
    "gone_at",
    "source_last_modified",
)
#: Columns of ``contracts`` computed in SQL from its items and the reference data
#: (``common.derived_fields``; ``reward_per_m3`` is a generated column): no row carries them.
CONTRACT_DERIVED_COLUMNS = (
    "is_ship",
    "primary_label",
    "item_count",
    "has_bpc",
    "bpc_runs_min",
    "bpc_runs_max",
    "bpc_me_min",
    "bpc_me_max",
    "bpc_te_min",
    "bpc_te_max",
    "search_text",
    "offered_category_ids",
    "offered_group_ids",
    "offered_market_group_ids",
    "reward_per_m3",
)
#: The columns of ``contracts`` a row is written with (all but the derived), in table order.
CONTRACT_COLUMNS: tuple[str, ...] = tuple(
    c.name for c in Contract.__table__.columns if c.name not in CONTRACT_DERIVED_COLUMNS
)
#: The columns of ``contracts`` a contract's message carries, in table order.
CONTRACT_MESSAGE_COLUMNS: tuple[str, ...] = tuple(
    c for c in CONTRACT_COLUMNS if c not in CONTRACT_BOOKKEEPING_COLUMNS
)
#: Every column of ``contract_items``, in table order.
ITEM_COLUMNS: tuple[str, ...] = tuple(ContractItem.__table__.columns.keys())


def sqlalchemy_url(database_url: str) -> str:
    """The asyncpg-dialect form of a ``postgresql://`` URL."""
    for scheme in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if database_url.startswith(scheme):
            return "postgresql+asyncpg://" + database_url[len(scheme) :]
    raise ValueError("database URL must start with postgresql://")


def asyncpg_dsn(database_url: str) -> str:
    """The plain ``postgresql://`` form that asyncpg accepts."""
    return "postgresql://" + sqlalchemy_url(database_url).split("://", 1)[1]


def create_engine(database_url: str, *, pool_size: int = 10, **options: object) -> AsyncEngine:
    return create_async_engine(
        sqlalchemy_url(database_url), pool_size=pool_size, pool_pre_ping=True, **options
    )


def with_database(database_url: str, database: str) -> str:
    """The same server URL pointing at another database."""
    parts = urlsplit(database_url)
    return urlunsplit(parts._replace(path=f"/{database}"))


# --- accounts, saved searches and alerts --------------------------------------------------
# Not in the stream: they belong to this database alone, so a replay neither needs nor
# touches them.


class Account(Base):
    __tablename__ = "accounts"

    account_id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(Text, unique=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp, server_default=text("now()"))


class ApiKey(Base):
    """An API key: only its SHA-256 is kept; ``key_id`` (a random prefix of the key) finds it."""

    __tablename__ = "api_keys"

    key_id: Mapped[str] = mapped_column(Text, primary_key=True)
    account_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("accounts.account_id", ondelete="CASCADE"), index=True
    )
    key_hash: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(Timestamp, server_default=text("now()"))
    revoked_at: Mapped[datetime | None] = mapped_column(Timestamp)


class SavedSearch(Base):
    """A filter set of ``GET /v1/contracts`` kept as typed columns, so that matching a batch
    of contracts against every search is one SQL statement (``filters`` keeps the request's
    form for reading it back)."""

    __tablename__ = "saved_searches"

    search_id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    account_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("accounts.account_id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(Text)
    filters: Mapped[dict[str, object]] = mapped_column(JSONB)
    region_ids: Mapped[list[int]] = mapped_column(ARRAY(BigInteger), server_default=text("'{}'"))
    contract_types: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'"))
    min_price: Mapped[Decimal | None] = mapped_column(Numeric)
    max_price: Mapped[Decimal | None] = mapped_column(Numeric)
    min_reward: Mapped[Decimal | None] = mapped_column(Numeric)
    max_reward: Mapped[Decimal | None] = mapped_column(Numeric)
    min_collateral: Mapped[Decimal | None] = mapped_column(Numeric)
    max_collateral: Mapped[Decimal | None] = mapped_column(Numeric)
    min_volume: Mapped[float | None] = mapped_column(Double)
    max_volume: Mapped[float | None] = mapped_column(Double)
    issued_after: Mapped[datetime | None] = mapped_column(Timestamp)
    issued_before: Mapped[datetime | None] = mapped_column(Timestamp)
    expires_after: Mapped[datetime | None] = mapped_column(Timestamp)
    expires_before: Mapped[datetime | None] = mapped_column(Timestamp)
    start_location_id: Mapped[int | None] = mapped_column(BigInteger)
    end_location_id: Mapped[int | None] = mapped_column(BigInteger)
    issuer_id: Mapped[int | None] = mapped_column(BigInteger)
    issuer_corporation_id: Mapped[int | None] = mapped_column(BigInteger)
    has_type_filter: Mapped[bool] = mapped_column(
        Boolean, comment="contains_type_id given: matched through saved_search_types"
    )
    include_requested: Mapped[bool] = mapped_column(Boolean)
    title_pattern: Mapped[str | None] = mapped_column(
        Text, comment="ILIKE pattern of the title filter, wildcards of the text escaped"
    )
    # What contracts hold and where (the content filters): NULL when not asked.
    q_pattern: Mapped[str | None] = mapped_column(
        Text, comment="regular expression of the q filter (services/api/name_filters.py)"
    )
    ship: Mapped[bool | None] = mapped_column(Boolean)
    category_id: Mapped[int | None] = mapped_column(Integer)
    group_id: Mapped[int | None] = mapped_column(Integer)
    bpc: Mapped[bool | None] = mapped_column(Boolean)
    min_runs: Mapped[int | None] = mapped_column(Integer)
    max_runs: Mapped[int | None] = mapped_column(Integer)
    min_me: Mapped[int | None] = mapped_column(Integer)
    max_me: Mapped[int | None] = mapped_column(Integer)
    min_te: Mapped[int | None] = mapped_column(Integer)
    max_te: Mapped[int | None] = mapped_column(Integer)
    system_id: Mapped[int | None] = mapped_column(BigInteger)
    min_reward_per_m3: Mapped[float | None] = mapped_column(Double)
    market_group_id: Mapped[int | None] = mapped_column(Integer)
    security: Mapped[str | None] = mapped_column(Text)
    webhook_url: Mapped[str | None] = mapped_column(Text)
    webhook_secret: Mapped[str | None] = mapped_column(Text)
    max_alerts_per_hour: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(Timestamp, server_default=text("now()"))
    updated_at: Mapped[datetime] = mapped_column(Timestamp, server_default=text("now()"))

    __table_args__ = (
        Index("ix_saved_searches_account", "account_id", "search_id"),
        CheckConstraint(
            "max_alerts_per_hour IS NULL OR max_alerts_per_hour > 0",
            name="ck_saved_searches_max_alerts",
        ),
    )


class SavedSearchType(Base):
    """The item types a search asks for, keyed by type: a batch's items find their searches
    through this index instead of every search being tried against every contract."""

    __tablename__ = "saved_search_types"

    type_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    search_id: Mapped[int] = mapped_column(
        BigInteger,
        ForeignKey("saved_searches.search_id", ondelete="CASCADE"),
        primary_key=True,
        index=True,
    )
    include_requested: Mapped[bool] = mapped_column(Boolean)


class SavedSearchKey(Base):
    """The match keys of a search without item types (``common/search_keys.py``): a batch's
    contracts find their searches through this index instead of meeting every search."""

    __tablename__ = "saved_search_keys"

    match_key: Mapped[str] = mapped_column(Text, primary_key=True)
    search_id: Mapped[int] = mapped_column(
        BigInteger,
        ForeignKey("saved_searches.search_id", ondelete="CASCADE"),
        primary_key=True,
        index=True,
    )


class Alert(Base):
    """One saved search matched one newly listed contract: at most one row per pair."""

    __tablename__ = "alerts"

    alert_id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    account_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("accounts.account_id", ondelete="CASCADE")
    )
    search_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("saved_searches.search_id", ondelete="CASCADE")
    )
    contract_id: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(Timestamp, server_default=text("now()"))
    read_at: Mapped[datetime | None] = mapped_column(Timestamp)
    throttled: Mapped[bool] = mapped_column(
        Boolean,
        server_default=text("false"),
        comment="Over the search's max_alerts_per_hour: kept, but neither pushed nor sent",
    )

    __table_args__ = (
        UniqueConstraint("search_id", "contract_id", name="uq_alerts_search_contract"),
        Index("ix_alerts_account", "account_id", "alert_id"),
        Index("ix_alerts_search_created", "search_id", "created_at"),
    )


WEBHOOK_PENDING = "pending"
WEBHOOK_DELIVERED = "delivered"
WEBHOOK_FAILED = "failed"


class WebhookDelivery(Base):
    """The webhook call of one alert, retried with backoff until delivered or given up."""

    __tablename__ = "webhook_deliveries"

    alert_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("alerts.alert_id", ondelete="CASCADE"), primary_key=True
    )
    url: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, server_default=text("'pending'"))
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    next_attempt_at: Mapped[datetime] = mapped_column(Timestamp, server_default=text("now()"))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(Timestamp, server_default=text("now()"))
    finished_at: Mapped[datetime | None] = mapped_column(Timestamp)

    __table_args__ = (
        CheckConstraint(
            "status IN ('pending', 'delivered', 'failed')", name="ck_webhook_deliveries_status"
        ),
        Index(
            "ix_webhook_deliveries_due",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
        ),
    )
