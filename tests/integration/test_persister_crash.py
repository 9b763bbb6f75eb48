"""Crashes and scale-out: nothing lost, nothing duplicated, nothing half-written."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import nats
import pytest
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext

from common.db import asyncpg_dsn, with_database
from common.messages import ContractsBatch
from common.migration import upgrade_async
from common.settings import HangarSettings
from common.subjects import Subjects
from services.persister.applier import apply_deliveries
from services.persister.consumer import consumer_config, delivery_of
from services.persister.main import consumer_is_idle, serve
from services.persister.settings import PersisterSettings
from services.stack.servers import ServerUrls, start_nats
from tests.support import factories as f
from tests.support.stream import jetstream, publish
from tests.support.waiting import wait_until

CONTRACTS_PER_BATCH = 40
# Enough that three kills at random moments all come before the persister is done.
BATCHES = 480


def _persister(settings: HangarSettings, **overrides: object) -> PersisterSettings:
    values = {**settings.model_dump(), "retry_delay_seconds": 0.1, "ack_wait_seconds": 1.0}
    return PersisterSettings(**{**values, **overrides})


def _load() -> list[ContractsBatch]:
    batches = []
    for b in range(BATCHES):
        first = 1000 + b * CONTRACTS_PER_BATCH
        contracts = [
            f.contract(cid, items=1 + cid % 4) for cid in range(first, first + CONTRACTS_PER_BATCH)
        ]
        batches.append(f.batch(contracts, page=b + 1))
    return batches


async def _snapshot(database_url: str) -> dict[int, tuple[str, list[int]]]:
    """contract → (status, its record ids): the state to compare."""
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        rows = await connection.fetch(
            "SELECT c.contract_id, c.status,"
            " array_remove(array_agg(i.record_id ORDER BY i.record_id), NULL) AS items"
            " FROM contracts c LEFT JOIN contract_items i USING (contract_id) GROUP BY 1, 2"
        )
    finally:
        await connection.close()
    return {r["contract_id"]: (r["status"], list(r["items"])) for r in rows}


def _expected(batches: list[ContractsBatch]) -> dict[int, tuple[str, list[int]]]:
    return {
        c.contract_id: ("outstanding", sorted(i.record_id for i in c.items))
        for b in batches
        for c in b.contracts
    }


async def test_committed_but_unacked_messages_are_redelivered_and_apply_once(
    settings: HangarSettings,
) -> None:
    batches = _load()[:10]
    persister = _persister(settings)
    subjects = Subjects(settings.name_prefix)
    async with jetstream(settings) as (_, js):
        await publish(js, settings, *batches)
        subscription = await js.pull_subscribe(
            subjects.all_events, durable=subjects.persister_durable, stream=subjects.stream,
            config=consumer_config(persister),
        )  # fmt: skip
        fetched = await subscription.fetch(10, timeout=5)
        pool = await asyncpg.create_pool(asyncpg_dsn(settings.database_url), min_size=1, max_size=2)
        try:
            outcome = await apply_deliveries(pool, [delivery_of(m) for m in fetched])
        finally:
            await pool.close()
        assert sorted(outcome.applied) == list(range(10))
        # the process dies here: committed, never acked
        await subscription.unsubscribe()
    committed = await _snapshot(settings.database_url)
    await serve(persister, until_idle=True)
    assert await _snapshot(settings.database_url) == committed == _expected(batches)


async def test_fetched_but_uncommitted_messages_are_redelivered(settings: HangarSettings) -> None:
    batches = _load()[:10]
    persister = _persister(settings)
    subjects = Subjects(settings.name_prefix)
    async with jetstream(settings) as (_, js):
        await publish(js, settings, *batches)
        subscription = await js.pull_subscribe(
            subjects.all_events, durable=subjects.persister_durable, stream=subjects.stream,
            config=consumer_config(persister),
        )  # fmt: skip
        assert len(await subscription.fetch(10, timeout=5)) == 10
        await subscription.unsubscribe()  # the process dies before its commit
    assert await _snapshot(settings.database_url) == {}
    await serve(persister, until_idle=True)
    assert await _snapshot(settings.database_url) == _expected(batches)


#: Within this, a handed-back message is delivered again; ack_wait would take 60 s.
IMMEDIATELY_SECONDS = 3.0


def _environment(settings: HangarSettings, ack_wait_seconds: float) -> dict[str, str]:
    return {
        **os.environ,
        "HANGAR_DATABASE_URL": settings.database_url,
        "HANGAR_NATS_URL": settings.nats_url,
        "HANGAR_NAME_PREFIX": settings.name_prefix,
        "HANGAR_FETCH_BATCH": "4",
        "HANGAR_ACK_WAIT_SECONDS": str(ack_wait_seconds),
        "HANGAR_LOG_LEVEL": "WARNING",
    }


_STARTED: list[subprocess.Popen[bytes]] = []


@pytest.fixture(autouse=True)
def _no_persister_left_running() -> Iterator[None]:
    """A test that fails half-way must not leave its persister running (and retrying
    against servers that are gone) for the rest of the session."""
    yield
    for process in _STARTED:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    _STARTED.clear()


def _start_persister(
    settings: HangarSettings, ack_wait_seconds: float = 2.0
) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "persister"],
        env=_environment(settings, ack_wait_seconds),
    )
    _STARTED.append(process)
    return process


async def _applied_contracts(database_url: str) -> int:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        count: int = await connection.fetchval("SELECT count(*) FROM contracts")
        return count
    finally:
        await connection.close()


async def _wait_until_some_applied(database_url: str, more_than: int) -> int:
    for _ in range(600):
        applied = await _applied_contracts(database_url)
        if applied > more_than:
            return applied
        await asyncio.sleep(0.02)
    raise AssertionError("the persister applied nothing")


async def test_sigkill_at_random_moments_loses_and_duplicates_nothing(
    settings: HangarSettings,
) -> None:
    batches = _load()
    async with jetstream(settings) as (_, js):
        await publish(js, settings, *batches)
    randomness = random.Random(2)
    applied = 0
    for _ in range(3):
        process = _start_persister(settings)
        applied = await _wait_until_some_applied(settings.database_url, applied)
        await asyncio.sleep(randomness.uniform(0.0, 0.1))
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        applied = await _applied_contracts(settings.database_url)
    assert applied < BATCHES * CONTRACTS_PER_BATCH, "the kills came too late to test anything"
    await serve(_persister(settings, ack_wait_seconds=2.0), until_idle=True)
    assert await _snapshot(settings.database_url) == _expected(batches)


async def _assert_nothing_waits_for_ack_wait(js: JetStreamContext, subjects: Subjects) -> None:
    """Every message not acked is deliverable at once (well within the consumer's 60 s
    ``ack_wait``): those the persister handed back (``nak``) count as pending acks until they
    are delivered again, but they are not left half-done for ``ack_wait`` to redeliver. They
    are handed back again for the next run."""
    info = await js.consumer_info(subjects.stream, subjects.persister_durable)
    unsettled = (info.num_pending or 0) + (info.num_ack_pending or 0)
    subscription = await js.pull_subscribe_bind(subjects.persister_durable, stream=subjects.stream)
    delivered: list[Msg] = []
    deadline = time.monotonic() + IMMEDIATELY_SECONDS
    with contextlib.suppress(NatsTimeoutError):
        while len(delivered) < unsettled and time.monotonic() < deadline:
            delivered += await subscription.fetch(
                unsettled - len(delivered), timeout=max(0.05, deadline - time.monotonic())
            )
    for message in delivered:
        await message.nak()
    await subscription.unsubscribe()
    assert len(delivered) == unsettled, f"{unsettled - len(delivered)} wait for ack_wait"


async def test_sigterm_finishes_in_flight_work_and_exits_cleanly(settings: HangarSettings) -> None:
    batches = _load()
    async with jetstream(settings) as (_, js):
        await publish(js, settings, *batches)
        process = _start_persister(settings, ack_wait_seconds=60)
        await _wait_until_some_applied(settings.database_url, 0)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        await _assert_nothing_waits_for_ack_wait(js, Subjects(settings.name_prefix))
    await serve(_persister(settings), until_idle=True)
    assert await _snapshot(settings.database_url) == _expected(batches)


@pytest.fixture
async def second_database_url(empty_database_url: str) -> str:
    await upgrade_async(empty_database_url)
    return empty_database_url


async def test_two_persisters_on_one_consumer_build_the_same_database_as_one(
    settings: HangarSettings, second_database_url: str
) -> None:
    batches = _load()
    churn = [f.sweep([c.contract_id for b in batches[:60] for c in b.contracts], gen=1)]
    single = settings
    double = settings.model_copy(
        update={"database_url": second_database_url, "name_prefix": settings.name_prefix + "x"}
    )
    for target in (single, double):
        async with jetstream(target) as (_, js):
            await publish(js, target, *batches, *churn)
    await serve(_persister(single), until_idle=True)
    await asyncio.gather(
        serve(_persister(double, fetch_batch=3), until_idle=True),
        serve(_persister(double, fetch_batch=5), until_idle=True),
    )
    one = await _snapshot(single.database_url)
    two = await _snapshot(double.database_url)
    assert one == two
    assert sum(1 for status, _ in one.values() if status == "gone") == (
        (BATCHES - 60) * CONTRACTS_PER_BATCH
    )
    client = await nats.connect(double.nats_url)
    try:
        subjects = Subjects(double.name_prefix)
        assert await consumer_is_idle(client.jetstream(), subjects)
        await client.jetstream().delete_stream(subjects.stream)
        await client.jetstream().delete_stream(subjects.dead_letter_stream)
    finally:
        await client.close()


async def test_the_persister_stops_cleanly_when_nats_went_first(
    settings: HangarSettings, tmp_path: Path
) -> None:
    """A terminal's Ctrl-C reaches every process of its group at once: NATS may be gone before
    the persister closes its connections. It must still stop cleanly (what it did not ack is
    redelivered later), not end in a traceback."""
    server = start_nats(tmp_path / "nats")
    try:
        own = _persister(settings.model_copy(update={"nats_url": server.url}))
        serving = asyncio.create_task(serve(own))
        subjects = Subjects(settings.name_prefix)
        async with jetstream(own) as (_, js):

            async def consumer_created() -> bool:
                if serving.done():
                    return True  # its error is raised below
                with contextlib.suppress(nats.js.errors.NotFoundError):
                    await js.consumer_info(subjects.stream, subjects.persister_durable)
                    return True
                return False

            await wait_until(consumer_created, timeout=30, what="the persister's consumer")
        if serving.done():
            await serving  # its error, if it failed
            pytest.fail("the persister stopped before its server went away")
        server.process.kill()
        server.process.wait()
        os.kill(os.getpid(), signal.SIGTERM)  # serve() handles it on this event loop
        await asyncio.wait_for(serving, timeout=30)
    finally:
        server.close()


async def test_a_persister_started_while_postgresql_is_down_applies_once_it_is_back(
    servers: ServerUrls, template_database: str, name_prefix: str, tmp_path: Path
) -> None:
    """Its database does not exist yet (PostgreSQL refuses the connection, as when it is down):
    the persister must keep running and apply the stream once the database answers."""
    missing = f"hb_later_{uuid.uuid4().hex[:10]}"
    settings = HangarSettings(
        database_url=with_database(servers.database_url, missing),
        nats_url=servers.nats_url,
        redis_url=servers.redis_url,
        name_prefix=name_prefix,
    )
    batches = _load()[:5]
    async with jetstream(settings) as (_, js):
        await publish(js, settings, *batches)
    process = _start_persister(settings)
    admin = await asyncpg.connect(asyncpg_dsn(with_database(servers.database_url, "postgres")))
    try:
        subjects = Subjects(name_prefix)
        async with jetstream(settings) as (_, js):

            async def consumed() -> bool:
                if process.poll() is not None:
                    return True  # the assertion below says so
                with contextlib.suppress(nats.js.errors.NotFoundError):
                    info = await js.consumer_info(subjects.stream, subjects.persister_durable)
                    return bool(info.delivered.stream_seq)
                return False

            # until it consumes (and fails to apply) from the stream
            await wait_until(consumed, timeout=60, what="the persister consuming the stream")
        assert process.poll() is None, "the persister exited while PostgreSQL was unreachable"
        await admin.execute(f'CREATE DATABASE "{missing}" TEMPLATE "{template_database}"')
        await _wait_until_some_applied(settings.database_url, len(_expected(batches)) - 1)
        assert await _snapshot(settings.database_url) == _expected(batches)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{missing}" WITH (FORCE)')
        await admin.close()
