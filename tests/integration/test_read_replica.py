"""The API on a real streaming replica (``HANGAR_DATABASE_READ_URL``): it serves what the
primary committed once the replica has replayed it, writes nothing there (a replica refuses
every write, so any write would fail the request), reports the replica's lag in ``/v1/regions``
and its header, and ``/readyz`` fails while the lag is past ``replica_max_lag_s``."""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from common.db import asyncpg_dsn, with_database
from common.migration import upgrade_async
from services.api.replica import REPLICA_LAG_HEADER
from tests.integration.test_api_support import api_client, api_settings, contract, seed
from tests.support.pg_replica import ReplicaPair, primary_with_replica

DATABASE = "hangar_bay"


@pytest.fixture(scope="module")
def replica_pair() -> Iterator[ReplicaPair]:
    with primary_with_replica(Path(tempfile.mkdtemp(prefix="hangar-bay-replica-"))) as pair:
        yield pair


@pytest.fixture(scope="module")
async def migrated(replica_pair: ReplicaPair) -> tuple[str, str]:
    admin = await asyncpg.connect(asyncpg_dsn(replica_pair.primary_url))
    try:
        await admin.execute(f'CREATE DATABASE "{DATABASE}"')
    finally:
        await admin.close()
    primary = with_database(replica_pair.primary_url, DATABASE)
    await upgrade_async(primary)
    return primary, with_database(replica_pair.replica_url, DATABASE)


async def _wait_until(condition: object, timeout: float = 60) -> None:
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await condition():
            return
        await asyncio.sleep(0.05)
    raise TimeoutError("condition not met")


@pytest.fixture
async def api(migrated: tuple[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    primary, replica = migrated
    settings = api_settings(primary, database_read_url=replica, replica_max_lag_s=5)
    async with api_client(settings) as client:
        yield client


async def _insert_contract(primary: str, contract_id: int) -> None:
    await seed(primary, contracts=[contract(contract_id, title="replica")])


async def test_api_reads_the_replica_and_reports_its_lag(
    migrated: tuple[str, str], api: httpx.AsyncClient
) -> None:
    primary, replica = migrated
    await _insert_contract(primary, 7_000_001)

    async def replayed() -> bool:
        response = await api.get("/v1/contracts/7000001")
        return response.status_code == 200

    await _wait_until(replayed)
    contract = (await api.get("/v1/contracts/7000001")).json()
    assert contract["title"] == "replica"

    regions = await api.get("/v1/regions")
    assert regions.status_code == 200
    lag = regions.json()["replica_lag_seconds"]
    assert lag is not None
    assert 0 <= lag < 5
    assert float(regions.headers[REPLICA_LAG_HEADER]) == pytest.approx(lag, abs=0.001)

    ready = await api.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ok"

    # The API's connections are on the replica, which refuses every write.
    connection = await asyncpg.connect(asyncpg_dsn(replica))
    try:
        assert await connection.fetchval("SELECT pg_is_in_recovery()") is True
        applications = await connection.fetch(
            "SELECT application_name FROM pg_stat_activity WHERE datname = $1", DATABASE
        )
        assert "hangar-bay-api" in {row["application_name"] for row in applications}
    finally:
        await connection.close()


async def test_readyz_fails_while_the_replica_lags(
    migrated: tuple[str, str], api: httpx.AsyncClient
) -> None:
    primary, replica = migrated
    control = await asyncpg.connect(asyncpg_dsn(replica))
    try:
        await control.execute("SELECT pg_wal_replay_pause()")
        await _insert_contract(primary, 7_000_002)

        async def lagging() -> bool:
            response = await api.get("/readyz")
            return response.status_code == 503

        await _wait_until(lagging, timeout=30)
        answer = await api.get("/readyz")
        assert answer.json()["status"] == "replica_lagging"
        assert answer.headers["retry-after"] == "5"
        assert answer.json()["replica_lag_seconds"] > 5
        assert (await api.get("/v1/contracts/7000002")).status_code == 404
    finally:
        await control.execute("SELECT pg_wal_replay_resume()")
        await control.close()

    async def caught_up() -> bool:
        return (await api.get("/readyz")).status_code == 200

    await _wait_until(caught_up)
    assert (await api.get("/v1/contracts/7000002")).status_code == 200
