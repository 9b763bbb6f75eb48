"""The API's list queries under load, against the same SQL straight through asyncpg.

    uv run python -m benchmarks.bench_api                   # 1M contracts, ~6M items
    uv run python -m benchmarks.bench_api --contracts 100000 --seconds 10
    uv run python -m benchmarks.bench_api --data-dir /tmp/bench-api   # generate once, reuse
    uv run python -m benchmarks.bench_api --data-dir /tmp/bench-api --workers 2

Generates contracts and items in SQL (``generate_series``) in a fresh database of an
embedded PostgreSQL (kept in ``--data-dir`` and reused by the next run when given; or
``--database-url``, reused when it already holds the data), serves the API with uvicorn in a
child process (``services.api.main.run``, ``--workers`` processes) and drives it with
``--clients`` concurrent keep-alive HTTP connections for ``--seconds`` on a representative mix
of list queries (filters, sorts both ways, later pages through a cursor, ``count=true``). Then
the very statements the API runs (compiled from ``services.api.queries``) go straight through
an asyncpg pool with as many connections and the same concurrency. Prints p50 / p99 /
throughput of both, the ratios, and the CPU time per request of the API processes and of the
client. Everything runs on this machine: the client, the API and PostgreSQL share its cores
(with whatever else runs: the load average is printed), as they say in the output.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import asyncpg
import httpx
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect

from common.db import asyncpg_dsn, with_database
from common.migration import upgrade
from services.api import queries
from services.api.cursor import CursorCodec, sort_value_from_text
from services.api.queries import Keyset, Statement
from services.api.schemas import ContractListQuery
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

# name, query parameters, whether the request asks for a later page (through a cursor)
MIX: list[tuple[str, dict[str, Any], bool]] = [
    ("newest outstanding", {}, False),
    ("newest outstanding, page 2", {}, True),
    ("The Forge by price", {"region_id": [10000002], "sort": "price", "order": "asc"}, False),
    (
        "The Forge by price, page 2",
        {"region_id": [10000002], "sort": "price", "order": "asc"},
        True,
    ),
    ("couriers by reward", {"type": ["courier"], "sort": "reward", "order": "desc"}, False),
    ("largest volume", {"sort": "volume", "order": "desc", "limit": 100}, False),
    ("expiring soon", {"sort": "date_expired", "order": "asc"}, False),
    ("price window", {"min_price": "1000", "max_price": "500000", "sort": "price"}, False),
    ("all statuses, newest", {"status": "all"}, False),
    ("containing a type", {"contains_type_id": [1234], "status": "all"}, False),
    (
        "two regions, item exchanges",
        {"region_id": [10000043, 10000030], "type": ["item_exchange"]},
        False,
    ),
    ("The Forge, counted", {"region_id": [10000002], "count": True, "limit": 20}, False),
]


@dataclass
class Request:
    name: str
    params: dict[str, Any]
    statements: list[tuple[str, list[Any]]]  # what the API runs for it, compiled for asyncpg


@dataclass
class Outcome:
    latencies: list[float]
    errors: int
    elapsed: float

    def line(self, label: str) -> str:
        ordered = sorted(self.latencies)
        p50 = statistics.median(ordered) * 1000
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
        rate = len(ordered) / self.elapsed
        return (
            f"{label:<8} requests {len(ordered):>7}  errors {self.errors:>4}  "
            f"p50 {p50:8.2f} ms  p99 {p99:8.2f} ms  throughput {rate:9.1f}/s"
        )

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies)

    @property
    def p99(self) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.elapsed


def compiled(statement: Statement) -> tuple[str, list[Any]]:
    """The statement as asyncpg receives it from SQLAlchemy: SQL with $n and its arguments."""
    dialect = asyncpg_dialect()  # type: ignore[no-untyped-call]
    query = statement.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    names = query.positiontup or []
    return str(query), [query.params[name] for name in names]


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


async def prepare(client: httpx.AsyncClient, pool: asyncpg.Pool, secret: str) -> list[Request]:
    """Each mix entry with its HTTP parameters and the statements the API runs for it."""
    codec = CursorCodec(secret.encode())
    requests = []
    for name, params, later_page in MIX:
        query = ContractListQuery.model_validate(params)
        http_params = {key: value for key, value in params.items() if key != "count"}
        if query.count:
            http_params["count"] = "true"
        after: Keyset | None = None
        if later_page:
            first = await client.get("/v1/contracts", params=http_params)
            cursor = first.json()["next_cursor"]
            http_params["cursor"] = cursor
            decoded = codec.decode(cursor)
            after = Keyset(sort_value_from_text(query.sort, decoded.value), decoded.contract_id)
        statements = [compiled(queries.list_statement(query, after, query.limit + 1))]
        if query.count:
            statements.append(compiled(queries.capped_count_statement(query, 10_000)))
            count_sql, count_arguments = statements[-1]
            counted = await pool.fetchval(count_sql, *count_arguments)
            if counted > 10_000:  # the API then asks the planner for an estimate
                sql, arguments = compiled(queries.estimate_statement(query))
                statements.append(("EXPLAIN (FORMAT JSON) " + sql, arguments))
        requests.append(Request(name, http_params, statements))
    return requests


One = Callable[[Request], Awaitable[bool]]
Session = Callable[[], contextlib.AbstractAsyncContextManager[One]]


async def drive(clients: int, seconds: float, requests: list[Request], session: Session) -> Outcome:
    """``clients`` concurrent clients, each with a session of its own (an HTTP connection),
    sending the mix round-robin for ``seconds``."""
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def client(offset: int) -> None:
        nonlocal errors
        turn = offset
        async with session() as one:
            while time.perf_counter() < deadline:
                request = requests[turn % len(requests)]
                turn += 1
                started = time.perf_counter()
                ok = await one(request)
                if ok:
                    latencies.append(time.perf_counter() - started)
                else:
                    errors += 1

    started = time.perf_counter()
    await asyncio.gather(*(client(offset) for offset in range(clients)))
    return Outcome(latencies, errors, time.perf_counter() - started)


class HttpConnection:
    """One keep-alive HTTP/1.1 connection that sends GETs and reads whole responses: about the
    least client work per request, so that the client's CPU (it shares the machine with the
    API and PostgreSQL) is spent on the API rather than on itself. Like a browser or httpx it
    accepts gzip; bodies are read, not decompressed or parsed (the asyncpg side decodes rows,
    but neither side builds objects from them)."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def get(self, target: str) -> int:
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
        for line in header_block.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        await reader.readexactly(length)
        return int(status_line.split(b" ", 2)[1])

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


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            found += [int(child) for child in (task / "children").read_text().split()]
    return found


def tree_cpu_seconds(pid: int) -> float:
    """CPU time of a process and its live descendants (the API's uvicorn workers)."""
    total = 0.0
    pending = [pid]
    while pending:
        current = pending.pop()
        with contextlib.suppress(OSError):
            total += cpu_seconds(current)
            pending += children(current)
    return total


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
            outcomes = await _measure(arguments, database_url, secret, pool)
        finally:
            await pool.close()
    raw = outcomes["asyncpg"]
    for label, api in outcomes.items():
        if label != "asyncpg":
            print(
                f"ratio {label}/asyncpg: p50 x{api.p50 / raw.p50:.2f}  p99 x{api.p99 / raw.p99:.2f}"
                f"  throughput x{api.throughput / raw.throughput:.2f}"
            )
    print(
        f"({len(MIX)} list queries round-robin, {arguments.clients} concurrent clients, "
        f"{arguments.seconds:.0f} s each, {arguments.pool_size} connections, "
        f"{arguments.workers} uvicorn worker(s), {arguments.client} HTTP client; "
        "client, API and PostgreSQL share "
        f"{os.cpu_count()} cores; {os.getloadavg()[0]:.2f} load average)"
    )


#: The API as configured for each measured run: without its response cache (every request
#: runs its statements, as the asyncpg side does) and with the default one.
API_RUNS = (("api, no response cache", 0.0), ("api, response cache 2 s (default)", 2.0))


async def _measure(
    arguments: argparse.Namespace, database_url: str, secret: str, pool: asyncpg.Pool
) -> dict[str, Outcome]:
    # The API's workers share the connections the asyncpg side has: pool / workers each.
    worker_pool = max(1, arguments.pool_size // arguments.workers)
    requests: list[Request] | None = None
    outcomes: dict[str, Outcome] = {}
    for label, response_cache_s in API_RUNS:
        async with (
            served_api(database_url, secret, worker_pool, arguments.workers, response_cache_s) as (
                base_url,
                api_pid,
            ),
            httpx.AsyncClient(
                base_url=base_url,
                limits=httpx.Limits(max_connections=arguments.clients),
                timeout=30,
            ) as client,
        ):
            if requests is None:
                requests = await prepare(client, pool, secret)
                outcomes["asyncpg"] = await _drive_asyncpg(arguments, requests, pool)
            targets = {
                request.name: "/v1/contracts?" + urlencode(request.params, doseq=True)
                for request in requests
            }

            session = _api_session(arguments.client, base_url, client, targets)
            await drive(arguments.clients, min(3.0, arguments.seconds), requests, session)
            api_before = tree_cpu_seconds(api_pid)
            client_before = time.process_time()
            outcome = await drive(arguments.clients, arguments.seconds, requests, session)
            done = max(1, len(outcome.latencies))
            client_cpu = (time.process_time() - client_before) / done
            api_cpu = (tree_cpu_seconds(api_pid) - api_before) / done
            print(outcome.line(label))
            print(
                f"{label}: API processes CPU per request {api_cpu * 1000:.2f} ms "
                f"({arguments.workers} worker(s)), client CPU per request "
                f"{client_cpu * 1000:.2f} ms"
            )
            outcomes[label] = outcome
    return outcomes


def _api_session(
    kind: str, base_url: str, client: httpx.AsyncClient, targets: dict[str, str]
) -> Session:
    @contextlib.asynccontextmanager
    async def lean_session() -> AsyncIterator[One]:
        url = httpx.URL(base_url)
        connection = HttpConnection(url.host, url.port or 80)

        async def one(request: Request) -> bool:
            try:
                return await connection.get(targets[request.name]) == 200
            except (OSError, asyncio.IncompleteReadError):
                await connection.close()
                return False

        try:
            yield one
        finally:
            await connection.close()

    @contextlib.asynccontextmanager
    async def httpx_session() -> AsyncIterator[One]:
        async def one(request: Request) -> bool:
            try:
                response = await client.get("/v1/contracts", params=request.params)
            except httpx.TransportError:
                return False
            return response.status_code == 200

        yield one

    return lean_session if kind == "lean" else httpx_session


async def _drive_asyncpg(
    arguments: argparse.Namespace, requests: list[Request], pool: asyncpg.Pool
) -> Outcome:
    @contextlib.asynccontextmanager
    async def asyncpg_session() -> AsyncIterator[One]:
        async def one(request: Request) -> bool:
            async with pool.acquire() as connection:
                for sql, values in request.statements:
                    await connection.fetch(sql, *values)
            return True

        yield one

    await drive(arguments.clients, min(3.0, arguments.seconds), requests, asyncpg_session)
    client_before = time.process_time()
    outcome = await drive(arguments.clients, arguments.seconds, requests, asyncpg_session)
    client_cpu = (time.process_time() - client_before) / max(1, len(outcome.latencies))
    print(outcome.line("asyncpg"))
    print(f"asyncpg: client CPU per request {client_cpu * 1000:.2f} ms")
    return outcome


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contracts", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument(
        "--pool-size", type=int, default=10, help="Connections, split among the API's workers."
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="uvicorn worker processes (HANGAR_API_WORKERS)."
    )
    parser.add_argument(
        "--client",
        choices=["lean", "httpx"],
        default="lean",
        help=(
            "HTTP client of the API side: a minimal keep-alive HTTP/1.1 client (default), or "
            "httpx, which spends several ms of the shared CPU per request itself."
        ),
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
