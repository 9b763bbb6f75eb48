"""Order safety and idempotency of the persister, on real NATS and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import asyncpg
from nats.js.errors import NotFoundError

from common.db import asyncpg_dsn
from common.messages import ContractsDelisted
from common.settings import HangarSettings
from common.subjects import Subjects
from services.persister.applier import Delivery, apply_deliveries
from services.persister.main import serve
from services.persister.repository import (
    DELISTING_NOTE_LIFETIME,
    DbConnection,
    apply_contracts,
    apply_delisted,
    apply_sweep,
    lock_regions,
)
from services.persister.settings import PersisterSettings
from tests.support import factories as f
from tests.support.stream import dead_letters, jetstream, publish, subject_of
from tests.support.waiting import wait_until


def _persister(settings: HangarSettings, **overrides: object) -> PersisterSettings:
    values = {
        **settings.model_dump(),
        "retry_delay_seconds": 0.1,
        "missing_contract_patience_seconds": 0,
        **overrides,
    }
    return PersisterSettings(**values)


async def _fetch(database_url: str, query: str) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        return await connection.fetch(query)
    finally:
        await connection.close()


async def _existence(database_url: str) -> dict[int, dict[str, Any]]:
    """Per contract: its status and sightings, what the order of messages may change."""
    rows = await _fetch(
        database_url,
        "SELECT contract_id, status, gone_at, first_seen_at, last_seen_at, source_last_modified"
        " FROM contracts",
    )
    return {r["contract_id"]: {k: v for k, v in r.items() if k != "contract_id"} for r in rows}


async def test_a_message_delivered_twice_applies_once_and_rewrites_nothing(
    settings: HangarSettings,
) -> None:
    message = f.batch([f.contract(1, items=3), f.contract(2, items=2)])
    async with jetstream(settings) as (_, js):
        await publish(js, settings, message)
        await serve(_persister(settings), until_idle=True)
        before = await _fetch(
            settings.database_url, "SELECT contract_id, xmin::text FROM contracts"
        )
        # the same body again under another message id: JetStream cannot deduplicate it
        subject = subject_of(Subjects(settings.name_prefix), message)
        await js.publish(subject, message.to_json(), headers={"Nats-Msg-Id": "again"})
        await serve(_persister(settings), until_idle=True)
    after = await _fetch(settings.database_url, "SELECT contract_id, xmin::text FROM contracts")
    assert sorted(map(tuple, after)) == sorted(
        map(tuple, before)
    )  # same rows, same row versions: nothing rewritten
    items = await _fetch(settings.database_url, "SELECT count(*) AS n FROM contract_items")
    assert items[0]["n"] == 5


async def test_an_older_message_after_a_newer_one_changes_nothing(settings: HangarSettings) -> None:
    newer = f.batch([f.contract(1, price=2_000_000)], gen=2)
    older = f.batch([f.contract(1, price=1_000_000)], gen=1)
    async with jetstream(settings) as (_, js):
        await publish(js, settings, newer, older)
        await serve(_persister(settings), until_idle=True)
    rows = await _fetch(settings.database_url, "SELECT price, source_last_modified FROM contracts")
    assert [(int(r["price"]), r["source_last_modified"]) for r in rows] == [
        (2_000_000, f.generation(2))
    ]


async def test_sweeps_mark_gone_ignore_older_generations_and_revive(
    settings: HangarSettings,
) -> None:
    async with jetstream(settings) as (_, js):
        await publish(js, settings, f.batch([f.contract(1), f.contract(2), f.contract(3)], gen=0))
        await publish(js, settings, f.sweep([1, 2], gen=1))
        await serve(_persister(settings), until_idle=True)
        state = await _fetch(
            settings.database_url, "SELECT contract_id, status, gone_at FROM contracts ORDER BY 1"
        )
        assert [(r["contract_id"], r["status"], r["gone_at"]) for r in state] == [
            (1, "outstanding", None),
            (2, "outstanding", None),
            (3, "gone", f.generation(1)),
        ]
        # an older sweep arriving late changes nothing
        await publish(js, settings, f.sweep([1], gen=0))
        await serve(_persister(settings), until_idle=True)
        late = await _fetch(
            settings.database_url, "SELECT contract_id, status FROM contracts ORDER BY 1"
        )
        assert [r["status"] for r in late] == ["outstanding", "outstanding", "gone"]
        # a newer sweep listing contract 3 again makes it outstanding again
        await publish(js, settings, f.sweep([1, 2, 3], gen=2))
        await serve(_persister(settings), until_idle=True)
    revived = await _fetch(
        settings.database_url,
        "SELECT status, gone_at, last_seen_at FROM contracts ORDER BY contract_id",
    )
    assert [r["status"] for r in revived] == ["outstanding"] * 3
    assert all(r["gone_at"] is None for r in revived)
    assert {r["last_seen_at"] for r in revived} == {f.sweep([], gen=2).swept_at}


async def test_a_sweep_never_marks_contracts_of_a_newer_generation_gone(
    settings: HangarSettings,
) -> None:
    async with jetstream(settings) as (_, js):
        await publish(js, settings, f.batch([f.contract(5)], gen=3))
        await publish(js, settings, f.sweep([], gen=2))
        await serve(_persister(settings), until_idle=True)
    rows = await _fetch(settings.database_url, "SELECT status FROM contracts")
    assert [r["status"] for r in rows] == ["outstanding"]


async def test_bids_wait_for_their_contract_then_land(settings: HangarSettings) -> None:
    async with jetstream(settings) as (_, js):
        await publish(js, settings, f.bids(7, [70, 71]))
        persister = asyncio.create_task(serve(_persister(settings), until_idle=False))
        subjects = Subjects(settings.name_prefix)

        async def bids_handed_back() -> bool:
            if persister.done():
                return True  # its error is raised below
            try:
                info = await js.consumer_info(subjects.stream, subjects.persister_durable)
            except NotFoundError:
                return False
            return bool(info.delivered.consumer_seq >= 2)

        await wait_until(
            bids_handed_back, timeout=30, what="the bids handed back for their missing contract"
        )
        if persister.done():
            await persister
        await publish(js, settings, f.batch([f.contract(7, type_="auction")]))
        for _ in range(100):
            rows = await _fetch(
                settings.database_url, "SELECT bid_id FROM contract_bids ORDER BY 1"
            )
            if len(rows) == 2:
                break
            await asyncio.sleep(0.1)
        persister.cancel()
        await asyncio.gather(persister, return_exceptions=True)
    assert [r["bid_id"] for r in rows] == [70, 71]


async def test_bids_for_a_contract_that_never_comes_are_dead_lettered(
    settings: HangarSettings,
) -> None:
    async with jetstream(settings) as (_, js):
        await publish(js, settings, f.bids(8, [80]))
        await serve(_persister(settings, max_deliver=3), until_idle=True)
        letters = await dead_letters(js, settings)
    assert len(letters) == 1
    assert "gave up after 3 deliveries" in letters[0].reason
    assert "not in the database" in letters[0].reason


async def test_a_bad_contract_is_dead_lettered_and_its_neighbours_applied(
    settings: HangarSettings,
) -> None:
    good = f.contract(10, items=2)
    neighbour = f.contract(11, items=1)
    # valid JSON, but an item record cannot belong to two contracts: contract 12 claims
    # a record id that contract 10 already holds
    bad = f.contract(12, items=1)
    bad = bad.model_copy(update={"items": [good.items[0].model_copy(update={"type_id": 999})]})
    async with jetstream(settings) as (_, js):
        await publish(js, settings, f.batch([good]), f.batch([neighbour, bad]))
        await serve(_persister(settings), until_idle=True)
        letters = await dead_letters(js, settings)
    contracts = await _fetch(settings.database_url, "SELECT contract_id FROM contracts ORDER BY 1")
    items = await _fetch(
        settings.database_url, "SELECT record_id, contract_id FROM contract_items ORDER BY 1"
    )
    assert [r["contract_id"] for r in contracts] == [10, 11]
    assert [(r["record_id"], r["contract_id"]) for r in items] == [
        (10000, 10),
        (10001, 10),
        (11000, 11),
    ]
    assert len(letters) == 1
    assert "contract 12" in letters[0].reason
    assert "belongs to 10" in letters[0].reason
    assert '"contract_id":12' in letters[0].payload


async def _until_waiting_on_a_lock(database_url: str, connection: DbConnection) -> None:
    for _ in range(500):
        waiting = await connection.fetchval(
            "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database"
            " WHERE d.datname = current_database() AND l.locktype = 'advisory' AND NOT l.granted"
        )
        if waiting:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"nothing waited for a region lock in {database_url}")


def _delivery(settings: HangarSettings, message: Any) -> Delivery:
    return Delivery(message.to_json(), subject_of(Subjects(settings.name_prefix), message))


async def test_a_sweep_waits_for_a_concurrent_batch_of_its_region_and_then_decides_it(
    settings: HangarSettings,
) -> None:
    """Two fetches at once: a batch (generation 1) still uncommitted when a newer sweep that no
    longer lists its contract is applied. The sweep must wait and mark it gone; without the
    region lock neither transaction sees the other's rows and the contract stays outstanding."""
    pool = await asyncpg.create_pool(asyncpg_dsn(settings.database_url), min_size=2, max_size=3)
    batch = f.batch([f.contract(7, items=1)], gen=1)
    try:
        async with pool.acquire() as first:
            transaction = first.transaction()
            await transaction.start()
            await lock_regions(first, shared={f.REGION})
            await apply_contracts(first, [batch])
            sweep = asyncio.create_task(
                apply_deliveries(pool, [_delivery(settings, f.sweep([8], gen=2))])
            )
            await _until_waiting_on_a_lock(settings.database_url, first)
            assert not sweep.done()
            await transaction.commit()
        outcome = await asyncio.wait_for(sweep, timeout=30)
    finally:
        await pool.close()
    assert outcome.applied == [0]
    rows = await _fetch(settings.database_url, "SELECT status, gone_at FROM contracts")
    assert [(r["status"], r["gone_at"]) for r in rows] == [("gone", f.generation(2))]


async def test_a_late_batch_waits_for_a_concurrent_sweep_of_its_region_and_then_obeys_it(
    settings: HangarSettings,
) -> None:
    pool = await asyncpg.create_pool(asyncpg_dsn(settings.database_url), min_size=2, max_size=3)
    try:
        async with pool.acquire() as first:
            transaction = first.transaction()
            await transaction.start()
            await apply_sweep(first, f.sweep([8], gen=2))
            late = asyncio.create_task(
                apply_deliveries(pool, [_delivery(settings, f.batch([f.contract(7)], gen=1))])
            )
            await _until_waiting_on_a_lock(settings.database_url, first)
            assert not late.done()
            await transaction.commit()
        outcome = await asyncio.wait_for(late, timeout=30)
    finally:
        await pool.close()
    assert outcome.applied == [0]
    rows = await _fetch(settings.database_url, "SELECT status, gone_at FROM contracts")
    assert [(r["status"], r["gone_at"]) for r in rows] == [("gone", f.generation(2))]


async def test_a_fetchs_new_contracts_are_visible_before_its_sweep_is_applied(
    settings: HangarSettings,
) -> None:
    """A fetch with a page of new contracts and the sweep after it: the page commits on its
    own, so the sweep (which rewrites every row of the region) holds no new contract back.
    Here the sweep waits for the region's lock, held by a concurrent batch of the region; the
    page's contract must be visible meanwhile, and the sweep applied when the lock is free."""
    pool = await asyncpg.create_pool(asyncpg_dsn(settings.database_url), min_size=2, max_size=3)
    fetch = [
        _delivery(settings, f.batch([f.contract(7, items=1)], gen=1)),
        _delivery(settings, f.sweep([7], gen=1)),
    ]
    try:
        async with pool.acquire() as concurrent_batch:
            transaction = concurrent_batch.transaction()
            await transaction.start()
            await lock_regions(concurrent_batch, shared={f.REGION})
            applying = asyncio.create_task(apply_deliveries(pool, fetch))
            await _until_waiting_on_a_lock(settings.database_url, concurrent_batch)
            visible = await _fetch(settings.database_url, "SELECT contract_id FROM contracts")
            assert [row["contract_id"] for row in visible] == [7]
            assert not applying.done()
            await transaction.commit()
        outcome = await asyncio.wait_for(applying, timeout=30)
    finally:
        await pool.close()
    assert sorted(outcome.applied) == [0, 1]
    assert not outcome.rejected
    assert not outcome.retry
    sweeps = await _fetch(settings.database_url, "SELECT contract_ids FROM region_sweeps")
    assert [row["contract_ids"] for row in sweeps] == [[7]]


async def test_a_batch_applied_after_a_newer_sweep_listing_it_gets_the_sweeps_sighting(
    settings: HangarSettings,
) -> None:
    """Stream order: batch (generation 1) with contracts 5 and 6, then a sweep (generation 2)
    listing both. Contract 5 is applied in that order, contract 6 after the sweep (a late
    redelivery, or a concurrent fetch): both rows must come out the same."""
    connection = await asyncpg.connect(asyncpg_dsn(settings.database_url))
    try:
        async with connection.transaction():
            await apply_contracts(connection, [f.batch([f.contract(5)], gen=1)])
        async with connection.transaction():
            await apply_sweep(connection, f.sweep([5, 6], gen=2))
        async with connection.transaction():
            await apply_contracts(connection, [f.batch([f.contract(6)], gen=1)])
    finally:
        await connection.close()
    state = await _existence(settings.database_url)
    in_order, late = state[5], state[6]
    assert late == in_order
    assert in_order["source_last_modified"] == f.generation(2)


def _delisted(contract_ids: list[int], *, gen: int) -> ContractsDelisted:
    return ContractsDelisted(
        region_id=f.REGION,
        generation=f.generation(gen),
        previous_generation=f.generation(gen - 1),
        previous_swept_at=f.sweep([], gen=gen - 1).swept_at,
        contract_ids=contract_ids,
    )


async def _apply_in_orders(
    database_url: str,
    orders: dict[int, list[str]],
    *,
    batch_gen: int,
    relisted: frozenset[int] = frozenset(),
) -> int:
    """Per contract, in its order: its batch (``B``, of generation ``batch_gen``), delistings
    (``D<generation>``) and the region's newest sweep (``S``, generation 4, listing the contract
    if it is ``relisted``), each in its own transaction; returns the delisting notes left."""
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        for contract_id, order in orders.items():
            for step in order:
                async with connection.transaction():
                    if step == "B":
                        batch = f.batch([f.contract(contract_id)], gen=batch_gen)
                        await apply_contracts(connection, [batch])
                    elif step == "S":
                        listing = [contract_id] if contract_id in relisted else []
                        await apply_sweep(connection, f.sweep(listing, gen=4))
                    else:
                        await apply_delisted(
                            connection, _delisted([contract_id], gen=int(step[1:]))
                        )
            await connection.execute("DELETE FROM region_sweeps")
        notes: int = await connection.fetchval("SELECT count(*) FROM contract_delistings")
        return notes
    finally:
        await connection.close()


async def test_a_batch_applied_after_the_delisting_of_its_contract_lands_as_in_stream_order(
    settings: HangarSettings,
) -> None:
    """Stream order: batch (generation 1), delisting (generation 3), the region's newest sweep
    (generation 4; the only one the stream retains). Each contract gets them in another order
    (two fetches applied at once, a late redelivery, a replay): every row must come out as
    the one applied in stream order. Contract 24 is listed again by the sweep."""
    orders = {
        20: ["B", "D3", "S"],
        21: ["D3", "B", "S"],
        22: ["D3", "S", "B"],
        23: ["S", "D3", "B"],
        24: ["B", "D3", "S"],
        25: ["D3", "S", "B"],
    }
    await _apply_in_orders(settings.database_url, orders, batch_gen=1, relisted=frozenset({24, 25}))
    state = await _existence(settings.database_url)
    assert state[20]["status"] == "gone"
    assert state[20]["gone_at"] == f.generation(3)
    assert state[21] == state[22] == state[23] == state[20]
    assert state[24]["status"] == "outstanding"
    assert state[24]["source_last_modified"] == f.generation(4)
    assert state[25] == state[24]


async def test_a_contract_delisted_twice_before_its_batch_lands_gone_at_the_later_delisting(
    settings: HangarSettings,
) -> None:
    """Stream order: delisting at generation 1 (the contract vanished, then came back), its
    batch at generation 2, delisting at generation 3, the newest sweep at generation 4. Contract
    30 gets them in that order, contract 31 with the batch last; the notes the delistings left
    are gone once the batch has read them."""
    orders = {30: ["D1", "B", "D3", "S"], 31: ["D1", "D3", "S", "B"]}
    notes = await _apply_in_orders(settings.database_url, orders, batch_gen=2)
    state = await _existence(settings.database_url)
    assert state[30]["gone_at"] == f.generation(3)
    assert state[31] == state[30]
    assert notes == 0


async def test_a_note_no_batch_can_read_any_more_is_pruned(settings: HangarSettings) -> None:
    """A contract delisted before it was ever enriched has no batch: its note goes once the
    stream no longer keeps batches that old."""
    later = f.generation(1) + DELISTING_NOTE_LIFETIME + timedelta(days=1)
    connection = await asyncpg.connect(asyncpg_dsn(settings.database_url))
    try:
        async with connection.transaction():
            await apply_delisted(connection, _delisted([40], gen=1))
        async with connection.transaction():
            await apply_delisted(
                connection,
                _delisted([41], gen=1).model_copy(
                    update={"generation": later, "previous_generation": later - timedelta(hours=1)}
                ),
            )
        notes = await connection.fetch("SELECT contract_id FROM contract_delistings")
    finally:
        await connection.close()
    assert [r["contract_id"] for r in notes] == [41]
