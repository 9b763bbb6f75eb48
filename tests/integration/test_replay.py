"""Rebuilding a database from the stream reproduces the live one exactly."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest

from common.db import asyncpg_dsn
from common.settings import HangarSettings
from common.subjects import Subjects
from services.fetcher.main import fetcher_resources, run_once
from services.persister.main import consumer_is_idle, serve
from services.persister.settings import PersisterSettings
from services.rebuild import set_aside as set_aside_module
from services.rebuild.replay import StreamMissingError, replay
from services.rebuild.set_aside import LEDGER
from services.rebuild.verify import compare, render
from tests.integration.test_fetcher import fetcher_settings
from tests.support.sim import Sim
from tests.support.stream import jetstream
from tests.support.waiting import wait_until

REGIONS = {10000002: 1200, 10000043: 300}


async def _live_pipeline(settings: HangarSettings, sim: Sim, cycles: int) -> None:
    persister = PersisterSettings(**settings.model_dump())
    async with fetcher_resources(
        fetcher_settings(settings, regions=list(REGIONS)), sim.transport
    ) as fetcher:
        for cycle in range(cycles):
            if cycle:
                sim.world.advance()
            await run_once(fetcher)
            await serve(persister, until_idle=True)


async def _fetchval(database_url: str, query: str) -> object:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        return await connection.fetchval(query)
    finally:
        await connection.close()


async def _count(database_url: str, query: str) -> int:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        value: int = await connection.fetchval(query)
        return value
    finally:
        await connection.close()


async def _indexes(database_url: str) -> dict[str, str]:
    """Every index and constraint of the database's tables, by name, with its definition."""
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        rows = await connection.fetch(
            "SELECT 'index ' || indexname AS name, indexdef AS definition FROM pg_indexes"
            " WHERE schemaname = current_schema()"
            " UNION ALL SELECT 'constraint ' || conname, pg_get_constraintdef(oid)"
            " FROM pg_constraint"
            " WHERE connamespace = current_schema()::regnamespace"
        )
        return {row["name"]: row["definition"] for row in rows}
    finally:
        await connection.close()


async def test_replay_rebuilds_an_identical_database_and_verify_sees_changes(
    settings: HangarSettings, empty_database_url: str
) -> None:
    sim = Sim.build(REGIONS, churn_per_generation=40)
    await _live_pipeline(settings, sim, cycles=4)
    assert (
        await _count(settings.database_url, "SELECT count(*) FROM contracts WHERE status = 'gone'")
        >= 80
    )
    assert await _count(settings.database_url, "SELECT count(*) FROM contract_bids") > 0

    report = await replay(settings, empty_database_url)
    assert report.rejected == 0
    # the read-side indexes, set aside while the empty target filled, are all back
    assert await _indexes(empty_database_url) == await _indexes(settings.database_url)
    assert len(report.set_aside) >= 10
    assert 0 < report.index_seconds < report.apply_seconds
    differences = await compare(settings.database_url, empty_database_url)
    assert all(d.equal for d in differences), "\n".join(render(differences))
    assert differences[0].source_rows == await _count(
        settings.database_url, "SELECT count(*) FROM contracts"
    )

    connection = await asyncpg.connect(asyncpg_dsn(empty_database_url))
    try:
        altered = await connection.fetchval(
            "UPDATE contracts SET price = price + 1 WHERE contract_id = (SELECT min(contract_id)"
            " FROM contracts WHERE price IS NOT NULL) RETURNING contract_id"
        )
        await connection.execute(
            "DELETE FROM contract_items"
            " WHERE record_id = (SELECT max(record_id) FROM contract_items)"
        )
    finally:
        await connection.close()
    differences = await compare(settings.database_url, empty_database_url)
    by_table = {d.table: d for d in differences}
    assert by_table["contracts"].different == [altered]
    assert "price" in by_table["contracts"].details[0]
    assert len(by_table["contract_items"].missing) == 1
    assert render(differences)[-1] == "the databases are DIFFERENT"


async def test_replay_twice_is_harmless_and_resumes(
    settings: HangarSettings, empty_database_url: str
) -> None:
    sim = Sim.build(REGIONS, churn_per_generation=40)
    await _live_pipeline(settings, sim, cycles=2)
    first = await replay(settings, empty_database_url, defer_indexes=False)  # --keep-indexes
    assert first.messages > 0
    assert first.set_aside == []
    assert await _fetchval(empty_database_url, f"SELECT to_regclass('{LEDGER}')") is None
    resumed = await replay(settings, empty_database_url)
    assert resumed.messages == 0  # nothing new since: the replay consumer resumed at the head
    again = await replay(settings, empty_database_url, restart=True)
    assert again.messages == first.messages
    assert resumed.set_aside == again.set_aside == []  # the target was not empty
    assert await _indexes(empty_database_url) == await _indexes(settings.database_url)
    differences = await compare(settings.database_url, empty_database_url)
    assert all(d.equal for d in differences), "\n".join(render(differences))


async def test_a_replay_interrupted_while_building_its_indexes_builds_the_rest_when_resumed(
    settings: HangarSettings, empty_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = Sim.build(REGIONS, churn_per_generation=40)
    await _live_pipeline(settings, sim, cycles=2)
    expected = await _indexes(settings.database_url)

    built_before_the_interruption: list[str] = []
    build = set_aside_module._build

    async def interrupted_after_three(connection: Any, noted: Any) -> None:
        if len(built_before_the_interruption) == 3:
            raise ConnectionResetError("the replay was interrupted")
        await build(connection, noted)
        built_before_the_interruption.append(noted["name"])

    with monkeypatch.context() as patch:
        patch.setattr(set_aside_module, "_build", interrupted_after_three)
        with pytest.raises(ConnectionResetError):
            await replay(settings, empty_database_url)
    missing = set(expected) - set(await _indexes(empty_database_url))
    noted = await _fetchval(empty_database_url, f"SELECT array_agg(name) FROM {LEDGER}")
    assert isinstance(noted, list)
    assert {name.split()[1] for name in missing} == set(noted)
    assert {name.split()[0] for name in missing} == {"index", "constraint"}
    assert len(missing) >= 10
    assert not missing & {f"index {name}" for name in built_before_the_interruption}
    resumed = await replay(settings, empty_database_url)
    assert resumed.messages == 0
    assert await _indexes(empty_database_url) == expected
    assert await _fetchval(empty_database_url, f"SELECT to_regclass('{LEDGER}')") is None
    differences = await compare(settings.database_url, empty_database_url)
    assert all(d.equal for d in differences), "\n".join(render(differences))


async def test_replay_of_a_missing_stream_fails_clearly(
    settings: HangarSettings, empty_database_url: str
) -> None:
    with pytest.raises(StreamMissingError, match="does not exist"):
        await replay(settings, empty_database_url)


async def test_replay_beside_the_live_pipeline_leaves_it_untouched_and_catches_up(
    settings: HangarSettings, empty_database_url: str
) -> None:
    sim = Sim.build(REGIONS, churn_per_generation=40)
    await _live_pipeline(settings, sim, cycles=2)
    live_digest = "SELECT md5(string_agg(c::text, ',' ORDER BY contract_id)) FROM contracts c"
    before = await _fetchval(settings.database_url, live_digest)
    await replay(settings, empty_database_url)
    assert await _fetchval(settings.database_url, live_digest) == before  # live untouched
    persister = asyncio.create_task(serve(PersisterSettings(**settings.model_dump())))
    fetcher_config = fetcher_settings(settings, regions=list(REGIONS))
    try:
        async with fetcher_resources(fetcher_config, sim.transport) as fetcher:
            sim.world.advance()
            replaying = asyncio.create_task(replay(settings, empty_database_url))
            await run_once(fetcher)  # the live system moves on while the replay runs
            await replaying
        # whatever the live system published after the replay reached the head: catch up
        await replay(settings, empty_database_url)
        async with jetstream(settings) as (_, js):
            subjects = Subjects(settings.name_prefix)

            async def live_persister_idle() -> bool:
                if persister.done():
                    return True  # its error is raised below
                return await consumer_is_idle(js, subjects)

            await wait_until(
                live_persister_idle, timeout=60, what="the live persister applying the stream"
            )
        if persister.done():
            await persister
        differences = await compare(settings.database_url, empty_database_url)
    finally:
        persister.cancel()
        await asyncio.gather(persister, return_exceptions=True)
    assert all(d.equal for d in differences), "\n".join(render(differences))
    live_ids = await _count(settings.database_url, "SELECT count(*) FROM contracts")
    assert live_ids == differences[0].target_rows
