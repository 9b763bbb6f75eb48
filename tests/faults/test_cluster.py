"""Past one machine: a 3-node NATS cluster (R3 streams) under the fetcher and two persisters,
and the API on a streaming PostgreSQL replica during a first load.

While ``hangar-bay fetcher --once`` publishes a first load and two ``hangar-bay persister``
processes consume it from one durable consumer, a node is SIGKILLed (the stream's leader, or a
follower) and later restarted on its data, or one persister is stopped. Every scenario ends with
the database equal to the simulator's truth (every contract with exactly its items, none
missing, none extra), the fetcher's publishing finished (it retried under the same message ids),
no persister exited on its own, and the restarted node caught up. Recovery times are printed
and, with ``HANGAR_FAULT_RESULTS``, recorded for the report.

The CI subset runs the leader kill and the replica on a small load; ``HANGAR_FAULT_SUITE=full``
runs every scenario on a Forge-sized one.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import asyncpg
import httpx
import nats
import pytest

from common.db import asyncpg_dsn, with_database
from common.migration import upgrade_async
from common.settings import HangarSettings
from common.subjects import Subjects
from services.api.app import create_app
from services.api.replica import REPLICA_LAG_HEADER
from services.api.settings import ApiSettings
from services.stack.servers import free_port, wait_for_port
from tests.support.nats_cluster import NatsCluster, nats_cluster
from tests.support.pg_replica import primary_with_replica

pytestmark = pytest.mark.faults

FULL = os.environ.get("HANGAR_FAULT_SUITE") == "full"
CONTRACTS = 34_000 if FULL else 4_000
REGION = 10000002
CLI = [sys.executable, "-m", "services.cli"]
Fault = Literal["kill-leader", "kill-follower", "stop-persister"]
#: The CI subset kills the leader (the scenario that found real faults); the full suite all.
SCENARIOS: list[Fault] = (
    ["kill-leader", "kill-follower", "stop-persister"] if FULL else ["kill-leader"]
)


@dataclass
class ClusterResult:
    scenario: str
    contracts: int
    missing: int
    extra: int
    wrong_items: int
    without_items: int
    fetcher_exit: int | None
    persisters_exited_on_their_own: int
    leader_before: str
    leader_after: str | None
    election_seconds: float | None
    catch_up_seconds: float | None
    settle_seconds: float
    publish_retries: int
    fetcher_publishing_at_fault: bool
    notes: list[str] = field(default_factory=list)


@pytest.fixture
def cluster() -> Iterator[NatsCluster]:
    work_dir = Path(tempfile.mkdtemp(prefix="hangar-bay-cluster-"))
    with nats_cluster(work_dir) as started:
        yield started


@pytest.fixture
def simulator() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [*CLI, "esi-sim", "--port", str(port), "--regions", f"{REGION}:{CONTRACTS}",
         "--no-auto-advance", "--seed", "5"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for_port(port, process, "esi-sim", timeout=60)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def _environment(settings: HangarSettings, nats_urls: str, esi_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "HANGAR_DATABASE_URL": settings.database_url,
        "HANGAR_NATS_URL": nats_urls,
        "HANGAR_REDIS_URL": settings.redis_url,
        "HANGAR_NAME_PREFIX": settings.name_prefix,
        "HANGAR_ESI_BASE_URL": esi_url,
        "HANGAR_REGIONS": str(REGION),
        "HANGAR_STREAM_REPLICAS": "3",
        "HANGAR_LOG_JSON": "true",
    }


def _spawn(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([*CLI, *command], env=env, stdout=out, stderr=subprocess.STDOUT)


async def _stream_messages(nats_urls: str, stream: str) -> int:
    client = await nats.connect(nats_urls.split(","), connect_timeout=2)
    try:
        try:
            info = await client.jetstream().stream_info(stream)
        except nats.js.errors.NotFoundError:
            return 0
        return int(info.state.messages)
    finally:
        await client.close()


async def _wait_for_messages(nats_urls: str, stream: str, at_least: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if await _stream_messages(nats_urls, stream) >= at_least:
                return
        except (nats.errors.Error, OSError, TimeoutError):
            pass
        await asyncio.sleep(0.1)
    raise TimeoutError(f"fewer than {at_least} messages in {stream} after {timeout:.0f} s")


def _truth(esi_url: str) -> dict[int, set[int]]:
    truth = httpx.get(f"{esi_url}/_sim/truth", timeout=60).json()
    return {
        int(contract_id): set(contract["items"])
        for contract_id, contract in truth["regions"][str(REGION)].items()
    }


async def _database(database_url: str) -> dict[int, set[int]]:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        rows = await connection.fetch(
            "SELECT c.contract_id, coalesce(array_agg(i.record_id) FILTER "
            "(WHERE i.record_id IS NOT NULL), '{}') AS records "
            "FROM contracts c LEFT JOIN contract_items i USING (contract_id) "
            "WHERE c.status = 'outstanding' GROUP BY c.contract_id"
        )
    finally:
        await connection.close()
    return {row["contract_id"]: set(row["records"]) for row in rows}


async def _wait_for_truth(
    database_url: str, truth: dict[int, set[int]], timeout: float
) -> dict[int, set[int]]:
    deadline = time.monotonic() + timeout
    seen: dict[int, set[int]] = {}
    while time.monotonic() < deadline:
        seen = await _database(database_url)
        if seen == truth:
            return seen
        await asyncio.sleep(0.5)
    return seen


def _publish_retries(log: Path) -> int:
    count = 0
    for line in log.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if "retrying" in str(record.get("event", record.get("message", ""))):
            count += 1
    return count


def _record(result: ClusterResult) -> None:
    print(json.dumps(asdict(result)))
    results = os.environ.get("HANGAR_FAULT_RESULTS")
    if results:
        with Path(results).open("a") as out:
            out.write(json.dumps({"record": "cluster", **asdict(result)}) + "\n")


@pytest.mark.timeout(900 if FULL else 420)
@pytest.mark.parametrize("fault", SCENARIOS)
async def test_cluster_survives(
    fault: Fault,
    cluster: NatsCluster,
    simulator: str,
    settings: HangarSettings,
    tmp_path: Path,
) -> None:
    subjects = Subjects(settings.name_prefix)
    env = _environment(settings, cluster.urls, simulator)
    persisters = [_spawn(["persister"], env, tmp_path / f"persister-{n}.log") for n in (1, 2)]
    fetcher_log = tmp_path / "fetcher.log"
    fetcher = _spawn(["fetcher", "--once"], env, fetcher_log)
    notes: list[str] = []
    election: float | None = None
    catch_up: float | None = None
    try:
        await _wait_for_messages(cluster.urls, subjects.stream, 3, timeout=300)
        leader = cluster.wait_for_leader(subjects.stream)
        victim_name: str | None = None
        publishing = fetcher.poll() is None
        started = time.monotonic()
        if fault == "stop-persister":
            persisters[0].send_signal(signal.SIGTERM)
            assert persisters[0].wait(timeout=60) == 0, "a stopped persister must exit cleanly"
        else:
            victim_name = (
                leader
                if fault == "kill-leader"
                else next(n.name for n in cluster.nodes if n.name != leader)
            )
            victim = cluster.node(victim_name)
            victim.kill()
            new_leader = cluster.wait_for_leader(subjects.stream, not_on=victim_name)
            election = time.monotonic() - started
            notes.append(f"{victim_name} killed, leader {leader} -> {new_leader}")
            await asyncio.sleep(2)  # the cluster runs a while with one node down
            restarted = time.monotonic()
            victim.start()
            cluster.wait_until_current(subjects.stream, timeout=300)
            catch_up = time.monotonic() - restarted

        fetcher_exit = fetcher.wait(timeout=600)
        truth = _truth(simulator)
        seen = await _wait_for_truth(settings.database_url, truth, timeout=300)
        settle = time.monotonic() - started
        exited = sum(p.poll() is not None for p in persisters[(fault == "stop-persister") :])
        result = ClusterResult(
            scenario=fault,
            contracts=len(truth),
            missing=len(truth.keys() - seen.keys()),
            extra=len(seen.keys() - truth.keys()),
            wrong_items=sum(1 for cid in truth.keys() & seen.keys() if truth[cid] != seen[cid]),
            without_items=sum(1 for cid, items in seen.items() if not items and truth.get(cid)),
            fetcher_exit=fetcher_exit,
            persisters_exited_on_their_own=exited,
            leader_before=leader,
            leader_after=cluster.leader_of(subjects.stream),
            election_seconds=election,
            catch_up_seconds=catch_up,
            settle_seconds=settle,
            publish_retries=_publish_retries(fetcher_log),
            fetcher_publishing_at_fault=publishing,
            notes=notes,
        )
        _record(result)
        assert result.fetcher_publishing_at_fault, "the fault came after publishing ended"
        assert result.fetcher_exit == 0, fetcher_log.read_text()[-3000:]
        assert result.persisters_exited_on_their_own == 0
        assert (result.missing, result.extra, result.wrong_items, result.without_items) == (
            0,
            0,
            0,
            0,
        )
        assert cluster.replicas_current(subjects.stream)
    finally:
        for process in [fetcher, *persisters]:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in [fetcher, *persisters]:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()


@dataclass
class ReplicaResult:
    scenario: str
    contracts: int
    missing_on_replica: int
    extra_on_replica: int
    wrong_items_on_replica: int
    lag_samples: int
    max_lag_seconds: float
    catch_up_seconds: float
    readyz_failures_during_load: int


@pytest.mark.timeout(900 if FULL else 420)
async def test_a_read_replica_follows_a_first_load(
    simulator: str, settings: HangarSettings, tmp_path: Path
) -> None:
    """The fetcher and a persister write a first load to the primary while the API reads a
    streaming replica: the API's reported lag is sampled throughout, and the replica ends
    equal to the simulator's truth."""
    with primary_with_replica(Path(tempfile.mkdtemp(prefix="hangar-bay-replica-"))) as pair:
        admin = await asyncpg.connect(asyncpg_dsn(pair.primary_url))
        try:
            await admin.execute('CREATE DATABASE "hangar_bay"')
        finally:
            await admin.close()
        primary = with_database(pair.primary_url, "hangar_bay")
        replica = with_database(pair.replica_url, "hangar_bay")
        await upgrade_async(primary)
        env = {
            **_environment(settings, settings.nats_url, simulator),
            "HANGAR_DATABASE_URL": primary,
            "HANGAR_STREAM_REPLICAS": "1",
        }
        persister = _spawn(["persister"], env, tmp_path / "persister.log")
        fetcher = _spawn(["fetcher", "--once"], env, tmp_path / "fetcher.log")
        api_settings = ApiSettings(
            database_url=primary, database_read_url=replica, response_cache_s=0
        )
        app = create_app(api_settings)
        lags: list[float] = []
        not_ready = 0
        try:
            async with (
                app.router.lifespan_context(app),
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app), base_url="http://api"
                ) as api,
            ):
                while fetcher.poll() is None:
                    regions = await api.get("/v1/regions")
                    lags.append(float(regions.headers[REPLICA_LAG_HEADER]))
                    not_ready += (await api.get("/readyz")).status_code != 200
                    await asyncio.sleep(0.2)
                assert fetcher.returncode == 0, (tmp_path / "fetcher.log").read_text()[-3000:]
                truth = _truth(simulator)
                await _wait_for_truth(primary, truth, timeout=300)
                settled = time.monotonic()
                seen = await _wait_for_truth(replica, truth, timeout=120)
                catch_up = time.monotonic() - settled
                lags.append(float((await api.get("/v1/regions")).headers[REPLICA_LAG_HEADER]))
        finally:
            persister.send_signal(signal.SIGTERM)
            persister.wait(timeout=60)
        result = ReplicaResult(
            scenario="read-replica",
            contracts=len(truth),
            missing_on_replica=len(truth.keys() - seen.keys()),
            extra_on_replica=len(seen.keys() - truth.keys()),
            wrong_items_on_replica=sum(
                1 for cid in truth.keys() & seen.keys() if truth[cid] != seen[cid]
            ),
            lag_samples=len(lags),
            max_lag_seconds=max(lags),
            catch_up_seconds=catch_up,
            readyz_failures_during_load=not_ready,
        )
        print(json.dumps(asdict(result)))
        results = os.environ.get("HANGAR_FAULT_RESULTS")
        if results:
            with Path(results).open("a") as out:
                out.write(json.dumps({"record": "replica", **asdict(result)}) + "\n")
        assert (result.missing_on_replica, result.extra_on_replica) == (0, 0)
        assert result.wrong_items_on_replica == 0
        assert result.lag_samples > 0
