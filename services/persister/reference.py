"""Applying reference messages: types newer than the SDE, locations and names from ESI.

Set-based upserts, idempotent and order-free: an SDE row is never overwritten by ESI's (a
newer SDE build that knows an id takes it over, see ``common.sde.loader``); for locations and
names the newest ``resolved_at`` wins. Then the derived fields of exactly the contracts that
use the written entries are computed again. The caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

from pydantic import BaseModel

from common.db import SOURCE_ESI
from common.derived_fields import DERIVE_FOR_LOCATIONS, DERIVE_FOR_TYPES, lock_reference_data
from common.messages import ReferenceData
from services.persister.repository import ApplyResult, DbConnection

#: What a written entry changes in the contracts' derived fields.
Affects = Literal["types", "locations", "nothing"]


@dataclass(frozen=True)
class ReferenceUpsert:
    """The set-based upsert of one list of a reference message into its table.

    ``columns`` are (table column, message field, SQL element type), the key first. Catalog
    tables (``catalog=True``) keep the SDE's rows: ESI's rows only replace ESI's, and only when
    they differ. Location and name tables keep the newest ``resolved_at``.
    """

    field: str
    table: str
    columns: tuple[tuple[str, str, str], ...]
    catalog: bool
    affects: Affects

    def statement(self) -> str:
        names = [column for column, _, _ in self.columns]
        key, updated = names[0], names[1:]
        arrays = ", ".join(
            f"${number}::{sql_type}[]" for number, (_, _, sql_type) in enumerate(self.columns, 1)
        )
        if self.catalog:
            extra, value, changed = "source", f"'{SOURCE_ESI}'", updated
            old = ", ".join(f"t.{name}" for name in updated)
            new = ", ".join(f"EXCLUDED.{name}" for name in updated)
            guard = f"t.source = '{SOURCE_ESI}' AND ({old}) IS DISTINCT FROM ({new})"
        else:
            extra, value, changed = "resolved_at", f"${len(names) + 1}", [*updated, "resolved_at"]
            guard = "t.resolved_at < EXCLUDED.resolved_at"
        return (
            f"INSERT INTO {self.table} AS t ({', '.join(names)}, {extra})\n"
            f"SELECT n.*, {value} FROM unnest({arrays}) AS n({', '.join(names)})\n"
            f"ON CONFLICT ({key}) DO UPDATE SET "
            + ", ".join(f"{name} = EXCLUDED.{name}" for name in changed)
            + f"\nWHERE {guard}\nRETURNING t.{key} AS id"
        )

    def arguments(self, entries: Sequence[BaseModel], resolved_at: datetime) -> list[object]:
        arrays: list[object] = [
            [getattr(entry, field) for entry in entries] for _, field, _ in self.columns
        ]
        return arrays if self.catalog else [*arrays, resolved_at]


def _same_names(*columns: tuple[str, str]) -> tuple[tuple[str, str, str], ...]:
    return tuple((name, name, sql_type) for name, sql_type in columns)


UPSERTS: Final = (
    ReferenceUpsert(
        "categories",
        "item_categories",
        _same_names(("category_id", "int"), ("name", "text"), ("published", "boolean")),
        catalog=True,
        affects="nothing",
    ),
    ReferenceUpsert(
        "groups",
        "item_groups",
        _same_names(
            ("group_id", "int"), ("name", "text"), ("category_id", "int"), ("published", "boolean")
        ),
        catalog=True,
        affects="nothing",
    ),
    ReferenceUpsert(
        "types",
        "item_types",
        _same_names(
            ("type_id", "bigint"),
            ("name", "text"),
            ("group_id", "int"),
            ("category_id", "int"),
            ("published", "boolean"),
            ("market_group_id", "int"),
            ("volume", "float8"),
        ),
        catalog=True,
        affects="types",
    ),
    ReferenceUpsert(
        "constellations",
        "constellations",
        _same_names(("constellation_id", "bigint"), ("name", "text"), ("region_id", "bigint")),
        catalog=False,
        affects="nothing",
    ),
    ReferenceUpsert(
        "systems",
        "solar_systems",
        _same_names(
            ("system_id", "bigint"),
            ("name", "text"),
            ("constellation_id", "bigint"),
            ("security_status", "float8"),
        ),
        catalog=False,
        affects="nothing",
    ),
    ReferenceUpsert(
        "stations",
        "stations",
        _same_names(("station_id", "bigint"), ("name", "text"), ("system_id", "bigint")),
        catalog=False,
        affects="locations",
    ),
    ReferenceUpsert(
        "names",
        "entity_names",
        (("entity_id", "id", "bigint"), ("name", "name", "text"), ("category", "category", "text")),
        catalog=False,
        affects="locations",
    ),
)
_STATEMENTS: Final = {upsert.field: upsert.statement() for upsert in UPSERTS}


async def apply_reference(connection: DbConnection, message: ReferenceData) -> ApplyResult:
    await lock_reference_data(connection, exclusive=True)
    written: dict[Affects, list[int]] = {"types": [], "locations": [], "nothing": []}
    for upsert in UPSERTS:
        entries: list[BaseModel] = getattr(message, upsert.field)
        if entries:
            rows = await connection.fetch(
                _STATEMENTS[upsert.field], *upsert.arguments(entries, message.resolved_at)
            )
            written[upsert.affects].extend(row["id"] for row in rows)
    if written["types"]:
        await connection.execute(DERIVE_FOR_TYPES, written["types"])
    if written["locations"]:
        await connection.execute(DERIVE_FOR_LOCATIONS, written["locations"])
    return ApplyResult()
