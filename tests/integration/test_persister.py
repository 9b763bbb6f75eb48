"""The persister on real NATS JetStream and PostgreSQL."""

from __future__ import annotations

import asyncpg

from common.db import asyncpg_dsn
from common.settings import HangarSettings
from services.persister.main import serve
from services.persister.settings import PersisterSettings
from tests.support import factories as f
from tests.support.stream import dead_letters, jetstream, publish


def _persister(settings: HangarSettings, **overrides: object) -> PersisterSettings:
    return PersisterSettings(**{**settings.model_dump(), "retry_delay_seconds": 0.2, **overrides})


async def _rows(database_url: str, query: str) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        return await connection.fetch(query)
    finally:
        await connection.close()


async def test_contracts_and_items_land_together(settings: HangarSettings) -> None:
    async with jetstream(settings) as (_, js):
        await publish(js, settings, f.batch([f.contract(1, items=3), f.contract(2, items=1)]))
    await serve(_persister(settings), until_idle=True)
    rows = await _rows(
        settings.database_url,
        "SELECT contract_id, count(record_id) AS n FROM contracts"
        " LEFT JOIN contract_items USING (contract_id) GROUP BY 1 ORDER BY 1",
    )
    assert [(r["contract_id"], r["n"]) for r in rows] == [(1, 3), (2, 1)]


async def test_poison_message_is_dead_lettered_and_neighbours_applied(
    settings: HangarSettings,
) -> None:
    async with jetstream(settings) as (_, js):
        await publish(js, settings, f.batch([f.contract(1)]))
        await js.publish(
            f"{settings.name_prefix}.events.contracts.1.x",
            b'{"kind":"contracts","schema_version":7}',
        )
        await js.publish(f"{settings.name_prefix}.events.contracts.1.y", b"\xff not json")
        await publish(js, settings, f.batch([f.contract(2)]))
        await serve(_persister(settings), until_idle=True)
        letters = await dead_letters(js, settings)
    contracts = await _rows(settings.database_url, "SELECT contract_id FROM contracts ORDER BY 1")
    assert [r["contract_id"] for r in contracts] == [1, 2]
    assert len(letters) == 2
    assert all(letter.reason.startswith("invalid message") for letter in letters)
    assert {letter.stream_sequence for letter in letters} == {2, 3}
    assert "schema_version" in letters[0].reason


async def test_money_is_stored_as_the_exact_decimal_esi_sent(settings: HangarSettings) -> None:
    """ESI sends ISK amounts as JSON numbers: the database keeps the decimal they were
    written as (in cents), not the binary float's expansion."""
    prices = [0.1, 1234567.89, 99999999999999.98, 1e16, 0.015, 0.0]
    async with jetstream(settings) as (_, js):
        await publish(
            js,
            settings,
            f.batch([f.contract(n + 1, items=0, price=p) for n, p in enumerate(prices)]),
        )
    await serve(_persister(settings), until_idle=True)
    rows = await _rows(
        settings.database_url,
        "SELECT price::text AS price, collateral::text AS collateral, buyout"
        " FROM contracts ORDER BY contract_id",
    )
    assert [r["price"] for r in rows] == ["0.10", "1234567.89", "99999999999999.98",
                                          "10000000000000000.00", "0.02", "0.00"]  # fmt: skip
    assert {r["collateral"] for r in rows} == {"0.00"}
    assert {r["buyout"] for r in rows} == {None}
