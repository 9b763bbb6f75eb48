"""The benchmarks' shared workload and ceiling: a generated Forge-like load of contracts with
items (CEILINGS.md's realistic mix), the COPY rows built from it, and raw COPY of those rows into
a database (one or two connections; into the fully indexed schema, or into the schema with the
replay's read-side indexes and foreign keys set aside and built afterwards).

The row builder (:func:`copy_rows`) is the one place the benchmarks turn a batch into COPY
rows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from random import Random
from typing import Any

import asyncpg

from benchmarks.support import Stopwatch
from common.db import CONTRACT_COLUMNS, CONTRACT_DERIVED_COLUMNS, ITEM_COLUMNS, asyncpg_dsn
from common.messages import ContractsBatch
from common.subjects import Subjects
from services.persister.contract_rows import contracts_table_rows
from services.rebuild.set_aside import restore_set_aside, set_aside

REGION = 10000002
GENERATION = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
PAGE_SIZE = 1000

#: Contract types as ESI lists them in a big region (CEILINGS.md's "realistic" mix).
TYPE_MIX: tuple[tuple[str, float], ...] = (
    ("item_exchange", 0.60),
    ("auction", 0.10),
    ("courier", 0.25),
    ("loan", 0.025),
    ("unknown", 0.025),
)
#: Items per item exchange or auction: (probability, low, high). Mostly 1-3, p99 about 16,
#: rarely hundreds (DESIGN.md: p99 16, max seen 422). Mean 5.56 over the 70% of contracts that
#: carry items, 3.9 over all contracts.
ITEM_BUCKETS: tuple[tuple[float, int, int], ...] = (
    (0.53, 1, 3),
    (0.35, 4, 9),
    (0.11, 10, 16),
    (0.008, 17, 60),
    (0.002, 61, 421),
)
UNIT_VOLUMES = (0.01, 0.1, 1.0, 2.5, 5.0, 10.0, 15.0, 25.0, 47.5, 2500.0, 15000.0)
# -- the load ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    subject: str
    body: bytes
    message_id: str
    contracts: int
    items: int
    by_type: dict[str, int]


@dataclass
class Load:
    messages: list[Message]
    contracts: int
    items: int
    by_type: dict[str, int]

    @property
    def rows(self) -> int:
        return self.contracts + self.items

    def batches(self) -> list[ContractsBatch]:
        """The messages parsed again (only outside the persister's timed phases)."""
        return [ContractsBatch.model_validate_json(m.body) for m in self.messages]


def _esi_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _pick_type(rng: Random) -> str:
    roll = rng.random()
    for kind, share in TYPE_MIX:
        if roll < share:
            return kind
        roll -= share
    return TYPE_MIX[-1][0]


def _item_count(rng: Random) -> int:
    roll = rng.random()
    for share, low, high in ITEM_BUCKETS:
        if roll < share:
            return rng.randint(low, high)
        roll -= share
    return rng.randint(ITEM_BUCKETS[-1][1], ITEM_BUCKETS[-1][2])


def _volume(rng: Random, terms: int) -> float:
    """A sum of floats, so volumes carry binary noise like ESI's ``274.4699999999999``."""
    return sum(rng.choice(UNIT_VOLUMES) * rng.choice((1, 1, 2, 3, 10)) for _ in range(terms))


def _items(rng: Random, count: int, next_record: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for index in range(count):
        record_id = next_record + index
        roll = rng.random()
        if roll < 0.04:  # requested, not offered: no item_id
            rows.append(
                {"is_included": False, "quantity": rng.randint(1, 5000),
                 "record_id": record_id, "type_id": rng.randint(18, 60_000)}
            )  # fmt: skip
        elif roll < 0.14:  # a blueprint: a copy (runs) or an original
            row: dict[str, Any] = {
                "is_included": True, "item_id": 1_030_000_000_000 + record_id * 4,
                "material_efficiency": rng.randint(0, 10), "quantity": 1,
                "record_id": record_id, "time_efficiency": rng.randrange(0, 21, 2),
                "type_id": rng.randint(680, 60_000),
            }  # fmt: skip
            if rng.random() < 0.8:
                row["is_blueprint_copy"] = True
                row["runs"] = rng.choice((1, 2, 5, 10, 20, 50, 100, 300))
            rows.append(row)
        else:
            rows.append(
                {"is_included": True, "item_id": 1_030_000_000_000 + record_id * 4,
                 "quantity": rng.choice((1, 1, 1, 10, 100, 1000, rng.randint(1, 250_000))),
                 "record_id": record_id, "type_id": rng.randint(18, 60_000)}
            )  # fmt: skip
    return rows


def _contract(
    rng: Random, contract_id: int, kind: str, items: list[dict[str, Any]]
) -> dict[str, Any]:
    issued = GENERATION - timedelta(seconds=int(27 * 86400 * rng.random() ** 2))
    expired = issued + timedelta(days=rng.choice((1, 3, 7, 14, 28)))
    start = 60003760 if rng.random() < 0.6 else rng.randint(60_000_004, 60_015_000)
    body: dict[str, Any] = {
        "contract_id": contract_id,
        "date_expired": _esi_time(expired),
        "date_issued": _esi_time(issued),
        "days_to_complete": 0,
        "end_location_id": start,
        "issuer_corporation_id": rng.randint(98_000_000, 98_800_000),
        "issuer_id": rng.randint(2_112_000_000, 2_124_000_000),
        "price": 0,
        "reward": 0,
        "start_location_id": start,
        "title": "" if rng.random() < 0.88 else "WTS fitted Drake, cheap!!",
        "type": kind,
        "items": items,
    }
    if kind == "auction":
        price = round(10 ** rng.uniform(4.0, 9.5), -2)
        body["price"] = price
        body["buyout"] = 0 if rng.random() < 0.35 else round(price * rng.uniform(1.2, 6.0), -2)
        body["volume"] = _volume(rng, min(len(items), 12))
    elif kind == "item_exchange":
        body["collateral"] = 0
        body["price"] = round(10 ** rng.uniform(4.0, 10.5), -3)
        body["volume"] = _volume(rng, min(len(items), 12))
    elif kind == "courier":
        body["collateral"] = round(10 ** rng.uniform(6.0, 9.7), -4)
        body["reward"] = round(10 ** rng.uniform(5.5, 8.5), -3)
        body["days_to_complete"] = rng.choice((1, 3, 7, 14))
        body["end_location_id"] = rng.randint(60_000_004, 60_015_000)
        body["volume"] = round(rng.uniform(1000, 350_000), 2)
    else:
        body["collateral"] = round(10 ** rng.uniform(6.0, 9.0), -4)
        body["volume"] = _volume(rng, 2)
    if rng.random() < 0.03:
        body["for_corporation"] = True
    return body


def iter_messages(contracts: int, seed: int, subjects: Subjects) -> Iterator[Message]:
    """``contracts`` ESI-shaped contracts with items, as 1000-contract ``ContractsBatch``
    messages of one region and one ESI generation (the pages of one sweep), built one page at a
    time (a million-contract stream never sits in memory)."""
    rng = Random(seed)
    contract_id = 230_000_000
    next_record = 4_000_000_000
    page: list[dict[str, Any]] = []
    page_number = 0
    for index in range(contracts):
        contract_id += rng.randint(1, 60)
        kind = _pick_type(rng)
        count = _item_count(rng) if kind in {"item_exchange", "auction"} else 0
        items = _items(rng, count, next_record)
        next_record += count + rng.randint(0, 3)
        page.append(_contract(rng, contract_id, kind, items))
        if len(page) == PAGE_SIZE or index == contracts - 1:
            page_number += 1
            yield page_message(page, page_number, subjects, etag=f'"bench-{seed}-{page_number}"')
            page = []


def page_message(
    page: list[dict[str, Any]],
    page_number: int,
    subjects: Subjects,
    *,
    etag: str,
    generation: datetime = GENERATION,
) -> Message:
    """The fetcher's message for the contracts ``page`` of ESI page ``page_number`` of the
    region's ``generation`` (its Last-Modified)."""
    batch = ContractsBatch.model_validate(
        {
            "region_id": REGION,
            "fetched_at": generation + timedelta(seconds=40 + page_number),
            "source": {
                "page": page_number,
                "last_modified": generation,
                "expires": generation + timedelta(seconds=1800),
                "etag": etag,
            },
            "contracts": page,
        }
    )
    contracts = len(batch.contracts)
    items = sum(len(c.items) for c in batch.contracts)
    by_type: dict[str, int] = {}
    for c in batch.contracts:
        by_type[c.type] = by_type.get(c.type, 0) + 1
    return Message(
        subjects.contracts(batch.region_id, batch.batch_key()),
        batch.to_json(),
        batch.message_id(),
        contracts,
        items,
        by_type,
    )


def make_load(contracts: int, seed: int, subjects: Subjects) -> Load:
    """The whole load of :func:`iter_messages`, held in memory (message bodies only)."""
    messages = list(iter_messages(contracts, seed, subjects))
    by_type: dict[str, int] = {}
    for message in messages:
        for kind, count in message.by_type.items():
            by_type[kind] = by_type.get(kind, 0) + count
    return Load(
        messages,
        sum(m.contracts for m in messages),
        sum(m.items for m in messages),
        by_type,
    )


# -- COPY rows --------------------------------------------------------------------------------

Row = tuple[object, ...]


@dataclass(frozen=True)
class CopyRows:
    """The load as COPY rows: contracts (of ``contract_columns``) and items (built before any
    clock starts)."""

    contracts: list[Row]
    items: list[Row]
    contract_columns: tuple[str, ...] = CONTRACT_COLUMNS

    def split(self, parts: int) -> list[CopyRows]:
        """``parts`` shares by contract, each with its contracts' items."""
        shares = [CopyRows([], [], self.contract_columns) for _ in range(parts)]
        owner = {}
        for index, contract in enumerate(self.contracts):
            share = shares[index * parts // len(self.contracts)]
            share.contracts.append(contract)
            owner[contract[0]] = share
        for item in self.items:
            owner[item[1]].items.append(item)
        return shares


def money(value: float | None) -> Decimal | None:
    """As the persister converts ESI's floats to ``numeric``."""
    return None if value is None else Decimal(repr(value))


def copy_rows(batches: Sequence[ContractsBatch]) -> CopyRows:
    """Each contract and item as the persister writes it (first sighting, outstanding), from
    the persister's own row builder."""
    contracts, items = contracts_table_rows(batches)
    return CopyRows(contracts, items)


async def stored_rows(database_url: str) -> CopyRows:
    """Every contract (all its columns, the derived ones included, but those PostgreSQL
    generates) and item a database holds: what an apply left, for COPY into another database
    of the same schema."""
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        generated = {
            row["attname"]
            for row in await connection.fetch(
                "SELECT attname FROM pg_attribute"
                " WHERE attrelid = 'contracts'::regclass AND attgenerated <> ''"
            )
        }
        columns = tuple(
            name for name in (*CONTRACT_COLUMNS, *CONTRACT_DERIVED_COLUMNS) if name not in generated
        )
        contracts = await connection.fetch(
            f"SELECT {', '.join(columns)} FROM contracts ORDER BY contract_id"
        )
        items = await connection.fetch(
            f"SELECT {', '.join(ITEM_COLUMNS)} FROM contract_items ORDER BY record_id"
        )
    finally:
        await connection.close()
    return CopyRows([tuple(row) for row in contracts], [tuple(row) for row in items], columns)


# -- the COPY ceiling -------------------------------------------------------------------------


async def _copy_share(connection: asyncpg.Connection, share: CopyRows) -> None:
    async with connection.transaction():
        await connection.copy_records_to_table(
            "contracts", records=share.contracts, columns=share.contract_columns
        )
        await connection.copy_records_to_table(
            "contract_items", records=share.items, columns=ITEM_COLUMNS
        )


async def copy_ceiling(database_url: str, rows: CopyRows, connections: int = 1) -> float:
    """Seconds of raw COPY of ``rows`` into the database's schema as it is, on ``connections``
    connections at once (a share of the contracts with their items each, one transaction
    each; connections are opened before the clock starts)."""
    opened = [await asyncpg.connect(asyncpg_dsn(database_url)) for _ in range(connections)]
    try:
        shares = rows.split(connections)
        with Stopwatch() as watch:
            await asyncio.gather(*(_copy_share(c, s) for c, s in zip(opened, shares, strict=True)))
    finally:
        for connection in opened:
            await connection.close()
    return watch.seconds


@dataclass(frozen=True)
class SetAsideCopy:
    seconds: float  #: end to end: set aside, COPY, build
    copy_seconds: float
    build_seconds: float
    set_aside: list[str]


async def copy_ceiling_set_aside(
    database_url: str, rows: CopyRows, connections: int = 2
) -> SetAsideCopy:
    """The replay's way with its parsing, NATS and apply code taken out: set the read-side
    indexes and foreign keys aside (the replay's own code), raw COPY on ``connections``
    connections, then build what was set aside ``connections`` at once (the replay's own
    code)."""
    opened = [await asyncpg.connect(asyncpg_dsn(database_url)) for _ in range(connections)]
    pool = await asyncpg.create_pool(
        asyncpg_dsn(database_url), min_size=connections, max_size=connections
    )
    try:
        shares = rows.split(connections)
        with Stopwatch() as total:
            names = await set_aside(opened[0])
            with Stopwatch() as copy:
                await asyncio.gather(
                    *(_copy_share(c, s) for c, s in zip(opened, shares, strict=True))
                )
            with Stopwatch() as build:
                await restore_set_aside(pool, parallel=connections)
    finally:
        for connection in opened:
            await connection.close()
        await pool.close()
    return SetAsideCopy(total.seconds, copy.seconds, build.seconds, names)
