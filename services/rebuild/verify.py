"""``hangar-bay verify``: do two databases hold the same contracts, items, bids and sweeps?

Rows are compared by key through an MD5 of their whole text form, computed by PostgreSQL;
only the rows that differ are fetched in full to show which columns differ.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import asyncpg

from common.db import asyncpg_dsn

#: table -> its key column
TABLES = {
    "contracts": "contract_id",
    "contract_items": "record_id",
    "contract_bids": "bid_id",
    "region_sweeps": "region_id",
    "item_types": "type_id",
    "item_groups": "group_id",
    "item_categories": "category_id",
    "stations": "station_id",
    "solar_systems": "system_id",
    "constellations": "constellation_id",
    "entity_names": "entity_id",
}


@dataclass
class TableDifference:
    table: str
    source_rows: int
    target_rows: int
    missing: list[int] = field(default_factory=list)
    extra: list[int] = field(default_factory=list)
    different: list[int] = field(default_factory=list)
    details: list[str] = field(default_factory=list)

    @property
    def equal(self) -> bool:
        return not (self.missing or self.extra or self.different)


async def _digests(connection: asyncpg.Connection, table: str, key: str) -> dict[int, str]:
    rows = await connection.fetch(f"SELECT {key} AS k, md5(t::text) AS d FROM {table} AS t")
    return {row["k"]: row["d"] for row in rows}


async def _column_differences(
    source: asyncpg.Connection, target: asyncpg.Connection, table: str, key: str, ids: list[int]
) -> list[str]:
    query = f"SELECT * FROM {table} WHERE {key} = ANY($1::bigint[]) ORDER BY {key}"
    left = {row[key]: dict(row) for row in await source.fetch(query, ids)}
    right = {row[key]: dict(row) for row in await target.fetch(query, ids)}
    lines = []
    for identifier in ids:
        a, b = left[identifier], right[identifier]
        columns = [c for c in a if a[c] != b.get(c)]
        changes = ", ".join(f"{c}: {a[c]!r} != {b.get(c)!r}" for c in columns)
        lines.append(f"{table} {key}={identifier}: {changes}")
    return lines


async def compare(source_url: str, target_url: str, *, shown: int = 20) -> list[TableDifference]:
    source = await asyncpg.connect(asyncpg_dsn(source_url))
    target = await asyncpg.connect(asyncpg_dsn(target_url))
    try:
        results = []
        for table, key in TABLES.items():
            left, right = await asyncio.gather(
                _digests(source, table, key), _digests(target, table, key)
            )
            difference = TableDifference(table, len(left), len(right))
            difference.missing = sorted(left.keys() - right.keys())
            difference.extra = sorted(right.keys() - left.keys())
            difference.different = sorted(
                k for k in left.keys() & right.keys() if left[k] != right[k]
            )
            if difference.different:
                difference.details = await _column_differences(
                    source, target, table, key, difference.different[:shown]
                )
            results.append(difference)
        return results
    finally:
        await source.close()
        await target.close()


def render(differences: list[TableDifference], *, shown: int = 20) -> list[str]:
    lines = []
    for d in differences:
        lines.append(
            f"{d.table}: {d.source_rows} rows in source, {d.target_rows} in target; "
            f"{len(d.missing)} missing from target, {len(d.extra)} extra in target, "
            f"{len(d.different)} different"
        )
        if d.missing:
            lines.append(f"  missing {d.table} keys: {d.missing[:shown]}")
        if d.extra:
            lines.append(f"  extra {d.table} keys: {d.extra[:shown]}")
        lines.extend(f"  {line}" for line in d.details)
    verdict = "identical" if all(d.equal for d in differences) else "DIFFERENT"
    lines.append(f"the databases are {verdict}")
    return lines
