"""The API's list queries under load, against the same SQL straight through asyncpg.

    uv run python -m benchmarks.bench_api                   # 100k contracts, ~600k items
    uv run python -m benchmarks.bench_api --contracts 1000000 --data-dir /tmp/bench-api
    uv run python -m benchmarks.bench_api --data-dir /tmp/bench-api --workers 2

Generates contracts and items in SQL (``generate_series``) in a fresh database of an
embedded PostgreSQL (kept in ``--data-dir`` and reused by the next run when given; or
``--database-url``, reused when it already holds the data), serves the API with uvicorn in a
child process (``services.api.main.run``, ``--workers`` processes) and drives it with
``--clients`` concurrent keep-alive HTTP connections for ``--seconds``.

Each client draws its requests from a random generator of its own (seed ``--seed`` + client
number, printed): filters (regions, types, status, price windows, a contained type, an
issuer), sort key and order, page size, ``count=true``, and for a share of requests a later
page: a cursor at a random position of the data (a sampled row's sort value and id), signed
with the API's secret. The headline run has the API's response cache off (every request runs
its statements); the run with the default cache reports the hit ratio the API itself counted
(``hangar_api_response_cache_lookups`` of its ``/metrics``, one worker). The very statements the
API runs (its own query layer, same draws) then go straight through an asyncpg pool with as
many connections and the same concurrency.

Failed requests (a status other than 200, a broken connection, a timeout) count in the
latency figures with the time they took, and are listed by kind. Both sides decode what they
receive into Python objects: the HTTP side un-gzips and parses the JSON body, the asyncpg side
turns the records into dicts. Prints p50 / p99 / throughput, the ratios, CPU time per request
of the API processes and of the client, and the peak RSS of every API process. Everything runs
on this machine: the client, the API and PostgreSQL share its cores (with whatever else runs:
the load average is printed).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlencode

import asyncpg
import httpx
import orjson

from benchmarks.support import child_pids, megabytes, peak_rss
from common.db import asyncpg_dsn, with_database
from common.migration import upgrade
from services.api import queries
from services.api.cursor import (
    Cursor,
    CursorCodec,
    filters_digest,
    sort_value_from_text,
    sort_value_to_text,
)
from services.api.kit.statements import read_rows
from services.api.queries.columns import SORT_COLUMNS
from services.api.schemas import ContractListQuery
from services.api.settings import ApiSettings
from services.stack.servers import free_port, start_postgres

CONTRACTS_SQL = """
INSERT INTO contracts (
    contract_id, region_id, type, issuer_id, issuer_corporation_id, date_issued, date_expired,
    price, reward, collateral, volume, start_location_id, end_location_id, title, status,
    first_seen_at, last_seen_at, gone_at, source_last_modified
)
SELECT
    i,
    (ARRAY[10000002, 10000002, 10000002, 10000002, 10000043, 10000030, 10000032, 10000042,
           10000033, 10000001])[1 + i % 10],
    (ARRAY['item_exchange', 'item_exchange', 'item_exchange', 'auction', 'courier'])
        [1 + (i / 10) % 5],
    90000000 + (i * 37) % 200000,
    98000000 + (i * 53) % 30000,
    timestamptz '2025-01-01' + ((i * 7919) % 5184000) * interval '1 second',
    timestamptz '2025-01-15' + ((i * 7919) % 5184000) * interval '1 second',
    CASE WHEN i % 50 = 0 THEN NULL ELSE ((i * 104729) % 1000000000)::numeric / 100 END,
    CASE WHEN i % 5 = 4 THEN ((i * 31) % 10000000)::numeric ELSE 0 END,
    0,
    CASE WHEN i % 40 = 0 THEN NULL ELSE ((i * 2654435761) % 100000) / 10.0 END,
    60000000 + (i * 13) % 5000,
    60000000 + (i * 17) % 5000,
    CASE WHEN i % 20 = 0 THEN 'WTS item ' || i ELSE '' END,
    CASE WHEN (i / 7) % 10 < 3 THEN 'outstanding' ELSE 'gone' END,
    timestamptz '2025-03-01', timestamptz '2025-03-01',
    CASE WHEN (i / 7) % 10 < 3 THEN NULL ELSE timestamptz '2025-03-02' END,
    timestamptz '2025-03-01'
FROM generate_series($1::bigint, $2::bigint) AS i
"""
# 1 to 11 items per contract: 6 on average.
ITEMS_SQL = """
INSERT INTO contract_items (record_id, contract_id, type_id, quantity, is_included)
SELECT c * 16 + k, c, 1 + (c * 7 + k * 1009) % 30000, 1 + k, k % 4 <> 3
FROM generate_series($1::bigint, $2::bigint) AS c, generate_series(0, (c % 11)::int) AS k
"""
BATCH = 100_000
REGIONS = (10000002, 10000043, 10000030, 10000032, 10000042, 10000033, 10000001)
COUNT_EXACT_THRESHOLD: int = ApiSettings.model_fields["count_exact_threshold"].get_default()


@contextlib.contextmanager
def postgres(database_url: str | None, data_dir: Path | None) -> Iterator[str]:
    """The server: ``database_url``'s, else an embedded one (data kept in ``data_dir`` when
    given, else in a temporary directory)."""
    if database_url:
        yield database_url
        return
    with contextlib.ExitStack() as stack:
        if data_dir is None:
            work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hangar-bench-")))
        else:
            work = data_dir.resolve()
            work.mkdir(parents=True, exist_ok=True)
        work.chmod(0o755)  # embedded PostgreSQL runs as another user when started by root
        server = start_postgres(work / "postgres", database="postgres")
        stack.callback(server.close)
        yield server.url


async def populate(database_url: str, contracts: int) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        present = await connection.fetchval("SELECT count(*) FROM contracts")
        if present == contracts:
            print(f"reusing {present:,} contracts")
            return
        if present:
            raise SystemExit(f"the database holds {present:,} contracts, not {contracts:,}")
        started = time.perf_counter()
        for low in range(1, contracts + 1, BATCH):
            high = min(low + BATCH - 1, contracts)
            await connection.execute(CONTRACTS_SQL, low, high)
            await connection.execute(ITEMS_SQL, low, high)
            print(f"\rgenerated {high:,} contracts", end="", flush=True)
        await connection.execute("VACUUM ANALYZE contracts")
        await connection.execute("VACUUM ANALYZE contract_items")
        items = await connection.fetchval("SELECT count(*) FROM contract_items")
        print(
            f"\r{contracts:,} contracts, {items:,} items in {time.perf_counter() - started:.0f} s"
        )
    finally:
        await connection.close()


# -- what clients ask for ------------------------------------------------------------------


def _weighted(rng: random.Random, choices: tuple[tuple[Any, float], ...]) -> Any:
    roll = rng.random() * sum(weight for _, weight in choices)
    for value, weight in choices:
        if roll < weight:
            return value
        roll -= weight
    return choices[-1][0]


#: Sort keys with how often they are asked for, and how often in their natural order.
SORTS = (("date_issued", 0.45), ("price", 0.25), ("date_expired", 0.1), ("volume", 0.1),
         ("reward", 0.1))  # fmt: skip
NATURAL_ORDER = {"date_issued": ("desc", 0.85), "price": ("asc", 0.7),
                 "date_expired": ("asc", 0.8), "volume": ("desc", 0.7),
                 "reward": ("desc", 0.8)}  # fmt: skip
LATER_PAGE_SHARE = 0.3


@dataclass(frozen=True)
class Position:
    """A row of the data: where a later page may start."""

    contract_id: int
    values: dict[str, Any]


def draw_params(rng: random.Random) -> dict[str, Any]:
    """One list request's parameters, as a trader's screen would send them."""
    params: dict[str, Any] = {}
    regions = _weighted(
        rng,
        (((), 0.35), ((10000002,), 0.4), ((rng.choice(REGIONS[1:]),), 0.2),
         (tuple(rng.sample(REGIONS, 2)), 0.05)),
    )  # fmt: skip
    if regions:
        params["region_id"] = list(regions)
    types = _weighted(
        rng,
        (((), 0.55), (("item_exchange",), 0.2), (("courier",), 0.12), (("auction",), 0.1),
         (("item_exchange", "auction"), 0.03)),
    )  # fmt: skip
    if types:
        params["type"] = list(types)
    status = _weighted(rng, (("outstanding", 0.9), ("all", 0.08), ("gone", 0.02)))
    if status != "outstanding":
        params["status"] = status
    if rng.random() < 0.15:
        low = round(10 ** rng.uniform(3, 7), 2)
        params["min_price"] = str(Decimal(str(low)))
        params["max_price"] = str(Decimal(str(round(low * rng.uniform(10, 1000), 2))))
    if rng.random() < 0.08:
        params["contains_type_id"] = [rng.randint(1, 30_000)]
    if rng.random() < 0.02:
        params["issuer_id"] = 90_000_000 + rng.randrange(200_000)
    sort = _weighted(rng, SORTS)
    natural, share = NATURAL_ORDER[sort]
    order = natural if rng.random() < share else ("asc" if natural == "desc" else "desc")
    if (sort, order) != ("date_issued", "desc"):
        params["sort"], params["order"] = sort, order
    limit = _weighted(rng, ((None, 0.7), (20, 0.1), (100, 0.15), (500, 0.05)))
    if limit is not None:
        params["limit"] = limit
    if rng.random() < 0.1:
        params["count"] = "true"
    return params


@dataclass
class Request:
    """One drawn request: its URL and what the API runs for it (its own query layer)."""

    target: str
    query: ContractListQuery
    after: queries.Keyset | None


def build_request(rng: random.Random, codec: CursorCodec, positions: list[Position]) -> Request:
    params = draw_params(rng)
    query = ContractListQuery.model_validate(params)
    after = None
    if rng.random() < LATER_PAGE_SHARE:
        position = rng.choice(positions)
        value = position.values[query.sort]
        if value is None and query.sort not in queries.NULLABLE_SORTS:
            value = position.values["date_issued"]
        text = sort_value_to_text(query.sort, value)
        params["cursor"] = codec.encode(
            Cursor(query.sort, query.order, text, position.contract_id,
                   filters_digest(query.filter_fields()))
        )  # fmt: skip
        after = queries.Keyset(sort_value_from_text(query.sort, text), position.contract_id)
    target = "/v1/contracts?" + urlencode(params, doseq=True)
    return Request(target, query, after)


async def sample_positions(pool: asyncpg.Pool, wanted: int = 5000) -> list[Position]:
    """Rows spread over the whole table, for cursors at random depths."""
    total = await pool.fetchval("SELECT count(*) FROM contracts")
    percent = min(100.0, 100.0 * wanted / max(1, total))
    rows = await pool.fetch(
        "SELECT contract_id, price, date_issued, date_expired, volume, reward"
        f" FROM contracts TABLESAMPLE BERNOULLI ({percent})"
    )
    return [
        Position(row["contract_id"], {name: row[name] for name in SORT_COLUMNS}) for row in rows
    ]


@dataclass
class Client:
    seed: int
    requests: list[Request]


def draw_clients(
    seed: int, clients: int, per_client: int, secret: str, positions: list[Position]
) -> list[Client]:
    codec = CursorCodec(secret.encode())
    drawn = []
    for number in range(clients):
        rng = random.Random(seed + number)
        drawn.append(
            Client(seed + number, [build_request(rng, codec, positions) for _ in range(per_client)])
        )
    return drawn


# -- driving and measuring --------------------------------------------------------------------


@dataclass
class Outcome:
    latencies: list[float]  # every request, failed ones included
    failures: Counter[str]
    elapsed: float
    requests_sent: list[int] = field(default_factory=list)  # per client

    @property
    def count(self) -> int:
        return len(self.latencies)

    @property
    def errors(self) -> int:
        return sum(self.failures.values())

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies)

    @property
    def p99(self) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]

    @property
    def throughput(self) -> float:
        return self.count / self.elapsed

    def line(self, label: str) -> str:
        failures = ", ".join(f"{kind} {n}" for kind, n in sorted(self.failures.items()))
        return (
            f"{label:<40} requests {self.count:>7}  failed {self.errors:>5}"
            f"{' (' + failures + ')' if failures else ''}  p50 {self.p50 * 1000:8.2f} ms  "
            f"p99 {self.p99 * 1000:8.2f} ms  throughput {self.throughput:8.1f}/s"
        )


One = Callable[[Request], Awaitable[str | None]]  # None: success, else the failure's kind
Session = Callable[[], contextlib.AbstractAsyncContextManager[One]]


async def drive(seconds: float, clients: list[Client], session: Session) -> Outcome:
    """Each client with a session of its own (an HTTP connection) sends its own drawn
    requests in turn for ``seconds`` (starting again from its first when it runs out)."""
    latencies: list[float] = []
    failures: Counter[str] = Counter()
    sent = [0] * len(clients)
    deadline = time.perf_counter() + seconds

    async def run(index: int, client: Client) -> None:
        async with session() as one:
            while time.perf_counter() < deadline:
                request = client.requests[sent[index] % len(client.requests)]
                sent[index] += 1
                started = time.perf_counter()
                failure = await one(request)
                latencies.append(time.perf_counter() - started)
                if failure is not None:
                    failures[failure] += 1

    started = time.perf_counter()
    await asyncio.gather(*(run(index, client) for index, client in enumerate(clients)))
    return Outcome(latencies, failures, time.perf_counter() - started, sent)


class HttpConnection:
    """One keep-alive HTTP/1.1 connection that sends GETs and reads whole responses, with
    little client work per request (the client shares the machine with the API and
    PostgreSQL). Like a browser it accepts gzip; bodies are un-gzipped and parsed."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def get(self, target: str) -> tuple[int, Any]:
        if self._streams is None:
            self._streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self._streams
        writer.write(
            f"GET {target} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            "Accept-Encoding: gzip\r\nUser-Agent: bench-api\r\n\r\n".encode()
        )
        head = await reader.readuntil(b"\r\n\r\n")
        status_line, _, header_block = head.partition(b"\r\n")
        length = 0
        gzipped = False
        for line in header_block.split(b"\r\n"):
            name, _, value = line.partition(b":")
            name = name.lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"content-encoding":
                gzipped = value.strip().lower() == b"gzip"
        body = await reader.readexactly(length)
        if gzipped:
            body = gzip.decompress(body)
        return int(status_line.split(b" ", 2)[1]), orjson.loads(body) if body else None

    async def close(self) -> None:
        """Close the connection (the next ``get`` opens another)."""
        if self._streams is not None:
            writer = self._streams[1]
            self._streams = None
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_pids(pid: int) -> list[int]:
    """A process and its live descendants (the API's uvicorn workers)."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        pending += child_pids(current)
    return found


def tree_cpu_seconds(pid: int) -> float:
    total = 0.0
    for current in tree_pids(pid):
        with contextlib.suppress(OSError):
            total += cpu_seconds(current)
    return total


def tree_peak_rss(pid: int) -> dict[int, int]:
    """Peak RSS (``VmHWM``) of each live process of the API, by pid."""
    peaks = {}
    for current in tree_pids(pid):
        size = peak_rss(current)
        if size is not None:
            peaks[current] = size
    return peaks


async def cache_lookups(client: httpx.AsyncClient) -> Counter[str]:
    """The API's own count of response-cache lookups by result (hit, shared, miss)."""
    text = (await client.get("/metrics")).text
    counts: Counter[str] = Counter()
    for line in text.splitlines():
        if line.startswith("hangar_api_response_cache_lookups_total{"):
            labels, _, value = line.partition("} ")
            result = labels.split('result="', 1)[1].split('"', 1)[0]
            counts[result] = int(float(value))
    return counts


@contextlib.asynccontextmanager
async def served_api(
    database_url: str, secret: str, pool_size: int, workers: int, response_cache_s: float
) -> AsyncIterator[tuple[str, int]]:
    port = free_port()
    environment = {
        **os.environ,
        "HANGAR_RESPONSE_CACHE_S": str(response_cache_s),
        "HANGAR_DATABASE_URL": database_url,
        "HANGAR_CURSOR_SECRET": secret,
        "HANGAR_API_WORKERS": str(workers),
        "HANGAR_DB_POOL_SIZE": str(pool_size),
        "HANGAR_DB_MAX_OVERFLOW": "0",
        "HANGAR_LOG_LEVEL": "WARNING",
        "HANGAR_LOG_JSON": "true",
    }
    code = (
        "from services.api.main import run; from services.api.settings import ApiSettings; "
        f"run(ApiSettings(), host='127.0.0.1', port={port})"
    )
    process = await asyncio.create_subprocess_exec(sys.executable, "-c", code, env=environment)
    base_url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base_url) as probe:
            for _ in range(1200):  # 60 s: worker processes start slowly on a busy machine
                with contextlib.suppress(httpx.TransportError):
                    if (await probe.get("/readyz")).status_code == 200:
                        break
                await asyncio.sleep(0.05)
            else:
                raise SystemExit("the API did not become ready")
        yield base_url, process.pid
    finally:
        process.terminate()
        await process.wait()


async def main(arguments: argparse.Namespace) -> None:
    with postgres(arguments.database_url, arguments.data_dir) as server_url:
        database_url = server_url
        if not arguments.database_url:
            # A kept data directory keeps one database per size, reused by the next run.
            name = (
                f"hangar_bench_api_{arguments.contracts}"
                if arguments.data_dir is not None
                else f"hangar_bench_{uuid.uuid4().hex[:8]}"
            )
            admin = await asyncpg.connect(asyncpg_dsn(with_database(server_url, "postgres")))
            try:
                if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
                    await admin.execute(f'CREATE DATABASE "{name}"')
            finally:
                await admin.close()
            database_url = with_database(server_url, name)
        await asyncio.to_thread(upgrade, database_url)
        await populate(database_url, arguments.contracts)

        secret = uuid.uuid4().hex + uuid.uuid4().hex
        pool = await asyncpg.create_pool(
            asyncpg_dsn(database_url),
            min_size=arguments.pool_size,
            max_size=arguments.pool_size,
            server_settings={"jit": "off", "statement_timeout": "5000"},
        )
        try:
            positions = await sample_positions(pool)
            started = time.perf_counter()
            clients = draw_clients(
                arguments.seed, arguments.clients, arguments.draws, secret, positions
            )
            distinct = len({r.target for c in clients for r in c.requests})
            print(
                f"seeds {arguments.seed}..{arguments.seed + arguments.clients - 1} (one per "
                f"client), {arguments.draws} drawn requests per client, {distinct:,} distinct "
                f"of {arguments.clients * arguments.draws:,}; cursors at {len(positions):,} "
                f"sampled rows; drawn in {time.perf_counter() - started:.1f} s"
            )
            outcomes = await _measure(arguments, database_url, secret, pool, clients)
        finally:
            await pool.close()
    raw = outcomes["asyncpg"]
    for label, api in outcomes.items():
        if label != "asyncpg":
            print(
                f"ratio {label} / asyncpg: p50 x{api.p50 / raw.p50:.2f}  "
                f"p99 x{api.p99 / raw.p99:.2f}  throughput x{api.throughput / raw.throughput:.2f}"
            )
    print(
        f"({arguments.contracts:,} contracts; {arguments.clients} concurrent clients, "
        f"{arguments.seconds:.0f} s each, {arguments.pool_size} connections, "
        f"{arguments.workers} uvicorn worker(s); client, API and PostgreSQL share "
        f"{os.cpu_count()} cores; {os.getloadavg()[0]:.2f} load average)"
    )


#: The API as configured for each measured run: first without its response cache (the
#: headline: every request runs its statements, as the asyncpg side does), then with the
#: default one.
API_RUNS = (("HEADLINE api, no response cache", 0.0), ("api, response cache 2 s (default)", 2.0))


def _wrapped(outcome: Outcome, clients: list[Client]) -> str:
    repeated = sum(max(0, sent - len(c.requests)) for sent, c in zip(
        outcome.requests_sent, clients, strict=True))  # fmt: skip
    return f"{repeated} request(s) repeated a client's earlier draw (it ran out of draws)"


async def _measure(
    arguments: argparse.Namespace,
    database_url: str,
    secret: str,
    pool: asyncpg.Pool,
    clients: list[Client],
) -> dict[str, Outcome]:
    # The API's workers share the connections the asyncpg side has: pool / workers each.
    worker_pool = max(1, arguments.pool_size // arguments.workers)
    warm_up = min(3.0, arguments.seconds)
    outcomes: dict[str, Outcome] = {"asyncpg": await _drive_asyncpg(arguments, pool, clients)}
    for label, response_cache_s in API_RUNS:
        async with (
            served_api(database_url, secret, worker_pool, arguments.workers, response_cache_s) as (
                base_url,
                api_pid,
            ),
            httpx.AsyncClient(base_url=base_url, timeout=30) as probe,
        ):
            session = _api_session(base_url, arguments.timeout)
            # warm-up on other draws than the measured ones (the cache starts empty)
            await drive(warm_up, _shifted(clients), session)
            lookups_before = await cache_lookups(probe)
            api_before = tree_cpu_seconds(api_pid)
            client_before = time.process_time()
            outcome = await drive(arguments.seconds, clients, session)
            done = max(1, outcome.count)
            client_cpu = (time.process_time() - client_before) / done
            api_cpu = (tree_cpu_seconds(api_pid) - api_before) / done
            lookups = await cache_lookups(probe) - lookups_before
            peaks = tree_peak_rss(api_pid)
            print(outcome.line(label))
            print(
                f"{label}: API processes CPU per request {api_cpu * 1000:.2f} ms "
                f"({arguments.workers} worker(s)), client CPU per request "
                f"{client_cpu * 1000:.2f} ms; {_wrapped(outcome, clients)}"
            )
            print(
                f"{label}: peak RSS of the API processes: "
                + ", ".join(f"pid {pid} {megabytes(size)}" for pid, size in peaks.items())
            )
            if response_cache_s:
                looked_up = sum(lookups.values())
                if arguments.workers == 1 and looked_up:
                    print(
                        f"{label}: response cache hit ratio {lookups['hit'] / looked_up:.3f} "
                        f"(hit {lookups['hit']}, shared {lookups['shared']}, miss "
                        f"{lookups['miss']}, as the API counted them)"
                    )
                else:
                    print(
                        f"{label}: response cache hit ratio not measured (each of the "
                        f"{arguments.workers} workers counts its own; run with --workers 1)"
                    )
            outcomes[label] = outcome
    return outcomes


def _shifted(clients: list[Client]) -> list[Client]:
    """The same clients starting from their last draw backwards: a warm-up that does not
    put the measured run's first requests in the cache."""
    return [Client(c.seed, list(reversed(c.requests))) for c in clients]


def _api_session(base_url: str, timeout: float) -> Session:
    @contextlib.asynccontextmanager
    async def session() -> AsyncIterator[One]:
        url = httpx.URL(base_url)
        connection = HttpConnection(url.host, url.port or 80)

        async def one(request: Request) -> str | None:
            try:
                status, _ = await asyncio.wait_for(connection.get(request.target), timeout)
            except TimeoutError:
                await connection.close()
                return "timeout"
            except (OSError, asyncio.IncompleteReadError, orjson.JSONDecodeError):
                await connection.close()
                return "connection"
            return None if status == 200 else f"status {status}"

        try:
            yield one
        finally:
            await connection.close()

    return session


async def _asyncpg_request(connection: asyncpg.Connection, request: Request) -> None:
    """What the API runs for a list request, the rows decoded into dicts."""
    query = request.query
    rows = await read_rows(connection, *queries.list_query(query, request.after, query.limit + 1))
    decoded = [dict(row) for row in rows]
    if query.count:
        statement, params = queries.count_query(query, COUNT_EXACT_THRESHOLD)
        counted = (await read_rows(connection, statement, params))[0][0]
        if counted > COUNT_EXACT_THRESHOLD:
            await read_rows(connection, *queries.estimate_query(query))
    del decoded


async def _drive_asyncpg(
    arguments: argparse.Namespace, pool: asyncpg.Pool, clients: list[Client]
) -> Outcome:
    @contextlib.asynccontextmanager
    async def asyncpg_session() -> AsyncIterator[One]:
        async def one(request: Request) -> str | None:
            try:
                async with pool.acquire() as proxy:
                    # the proxy behaves as the connection it wraps
                    connection = cast(asyncpg.Connection, proxy)
                    await asyncio.wait_for(_asyncpg_request(connection, request), arguments.timeout)
            except TimeoutError:
                return "timeout"
            except (OSError, asyncpg.PostgresError) as error:
                return type(error).__name__
            return None

        yield one

    await drive(min(3.0, arguments.seconds), _shifted(clients), asyncpg_session)
    client_before = time.process_time()
    outcome = await drive(arguments.seconds, clients, asyncpg_session)
    client_cpu = (time.process_time() - client_before) / max(1, outcome.count)
    print(outcome.line("asyncpg"))
    print(f"asyncpg: client CPU per request {client_cpu * 1000:.2f} ms")
    return outcome


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--contracts", type=int, default=100_000, help="1000000 for the 1M-contract figures"
    )
    parser.add_argument("--seed", type=int, default=1, help="Seed of the first client's draws.")
    parser.add_argument("--draws", type=int, default=300, help="Requests drawn per client.")
    parser.add_argument(
        "--timeout", type=float, default=30.0, help="A request taking longer has failed."
    )
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument(
        "--pool-size", type=int, default=10, help="Connections, split among the API's workers."
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="uvicorn worker processes (HANGAR_API_WORKERS)."
    )
    parser.add_argument(
        "--database-url", help="A PostgreSQL database (migrated here; data reused when present)."
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        help=(
            "Keep the embedded PostgreSQL's data here and reuse the generated contracts in the "
            "next run (default: a temporary directory, generated again every run)."
        ),
    )
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_arguments()))
