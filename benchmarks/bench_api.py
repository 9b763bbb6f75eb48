"""The API's list queries and type autocomplete under load, against the same SQL straight
through asyncpg.

    uv run python -m benchmarks.bench_api                   # 100k contracts, ~600k items
    uv run python -m benchmarks.bench_api --contracts 1000000 --data-dir /tmp/bench-api
    uv run python -m benchmarks.bench_api --data-dir /tmp/bench-api --workers 2
    uv run python -m benchmarks.bench_api --data-dir /tmp/bench-api --contracts 1000000 \
        --only families --family category_id --family reward_per_m3

Generates contracts, items of real SDE types, places and derived fields
(``benchmarks.api_dataset``) in a fresh database of an embedded PostgreSQL (kept in
``--data-dir`` and reused by the next run when given; or ``--database-url``, reused when it
already holds the data), serves the API with uvicorn in a child process (``--workers``
processes) and drives it with ``--clients`` concurrent keep-alive HTTP connections.

Each client draws its requests from a random generator of its own (seed ``--seed`` + client
number, printed): filters (regions, types, status, price windows, a contained type, an
issuer), sort key and order, page size, ``count=true``, for a share of requests a later page (a
cursor at a random position of the data, signed with the API's secret), and for a share of
requests one filter on what contracts hold: a **filter family** — ``q`` (partial type names),
``ship``, ``category_id``, blueprint copies (``bpc=true`` with ME / TE / runs bounds),
``system_id``, ``min_reward_per_m3`` sorted by ``reward_per_m3``, and ``security`` and
``market_group_id`` once the query layer accepts them (``ContractListQuery.model_fields``).

Runs, each for ``--seconds`` (the families' for ``--family-seconds`` each), each through
asyncpg and right after through the API, so that both sides of a ratio see about the same load:

1. the mixed draws, the API without its response cache (the headline: every request runs its
   statements, as the asyncpg side does) and with its default cache (hit ratio as the API
   counted it, one worker);
2. each filter family alone, without the response cache: throughput and p99 against asyncpg,
   the rows a page returns (an empty answer is visible), and whether the API returned as many
   rows as the same statements through asyncpg;
3. ``GET /v1/types?q=`` (name autocomplete: prefixes of real type names as a trader types them)
   from ``--autocomplete-clients`` clients, against the same statement through asyncpg.

The asyncpg side runs the API's own query layer with the same draws, through a pool with as
many connections and the same concurrency: the list statement, the count when asked, the
names of the page's places and parties (``services.api.names``). Failed requests (a status
other than 200, a broken connection, a timeout) count in the latency figures with the time they
took, and are listed by kind. Both sides decode what they receive into Python objects. Prints
p50 / p99 / throughput, the ratios with the goal lines (throughput >= 0.8 x asyncpg, p99 <=
1.25 x asyncpg; autocomplete p99 < 20 ms), CPU time per request and peak RSS of the API
processes. Client, API and PostgreSQL share this machine's cores (the load average is
printed).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import os
import statistics
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, cast

import asyncpg
import httpx
import orjson

from benchmarks import api_dataset
from benchmarks.api_draws import (
    AUTOCOMPLETE,
    AUTOCOMPLETE_LIMIT,
    CONTENT_SHARE,
    Client,
    Request,
    Sizes,
    Workloads,
    draw_workloads,
    sample_content,
    sample_positions,
    usable_families,
)
from benchmarks.support import (
    child_pids,
    megabytes,
    peak_rss,
    percentile,
    served_api,
)
from common.db import asyncpg_dsn
from services.api import queries
from services.api.cursor import CursorCodec
from services.api.names import add_contract_names, search_types
from services.api.settings import ApiSettings

COUNT_EXACT_THRESHOLD: int = ApiSettings.model_fields["count_exact_threshold"].get_default()
THROUGHPUT_GOAL: Final = 0.8
P99_GOAL: Final = 1.25
AUTOCOMPLETE_P99_GOAL_S: Final = 0.020


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
        return percentile(self.latencies, 0.99)

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


def rows_in(body: Any) -> int | None:
    """Rows of a list page (``items``) or of an autocomplete answer (``types``)."""
    if isinstance(body, dict):
        for key in ("items", "types"):
            if isinstance(body.get(key), list):
                return len(body[key])
    return None


def _api_session(base_url: str, timeout: float, answered: dict[str, int]) -> Session:
    """Requests to the API; an answer with another number of rows than the same request
    through asyncpg (``answered``: target -> rows) is a failure."""

    @contextlib.asynccontextmanager
    async def session() -> AsyncIterator[One]:
        url = httpx.URL(base_url)
        connection = HttpConnection(url.host, url.port or 80)

        async def one(request: Request) -> str | None:
            try:
                status, body = await asyncio.wait_for(connection.get(request.target), timeout)
            except TimeoutError:
                await connection.close()
                return "timeout"
            except (OSError, asyncio.IncompleteReadError, orjson.JSONDecodeError):
                await connection.close()
                return "connection"
            if status != 200:
                return f"status {status}"
            expected = answered.get(request.target)
            if expected is not None and rows_in(body) != expected:
                return "rows differ from asyncpg"
            return None

        try:
            yield one
        finally:
            await connection.close()

    return session


async def _asyncpg_request(connection: asyncpg.Connection, request: Request) -> int:
    """What the API runs for the request (its query layer's calls, as ``contract_list`` and
    ``catalog_routes`` make them), the rows decoded into dicts; the rows of the answer."""
    if request.query is None:
        assert request.type_text is not None
        return len(await search_types(connection, request.type_text, AUTOCOMPLETE_LIMIT))
    query = request.query
    rows = await queries.list_contracts(connection, query, request.after, query.limit + 1)
    if query.count:
        await queries.count_contracts(connection, query, COUNT_EXACT_THRESHOLD)
    page = [dict(zip(queries.SUMMARY_NAMES, row, strict=True)) for row in rows[: query.limit]]
    await add_contract_names(connection, page)
    return len(page)


def _asyncpg_session(pool: asyncpg.Pool, timeout: float, answered: dict[str, int]) -> Session:
    """Requests through the pool; each answer's rows are kept in ``answered``."""

    @contextlib.asynccontextmanager
    async def session() -> AsyncIterator[One]:
        async def one(request: Request) -> str | None:
            try:
                async with pool.acquire() as proxy:
                    # the proxy behaves as the connection it wraps
                    connection = cast(asyncpg.Connection, proxy)
                    rows = await asyncio.wait_for(_asyncpg_request(connection, request), timeout)
            except TimeoutError:
                return "timeout"
            except (OSError, asyncpg.PostgresError) as error:
                return type(error).__name__
            answered[request.target] = rows
            return None

        yield one

    return session


def _shifted(clients: list[Client]) -> list[Client]:
    """The same clients starting from their last draw backwards: a warm-up that does not
    put the measured run's first requests in the cache."""
    return [Client(c.seed, list(reversed(c.requests))) for c in clients]


def _wrapped(outcome: Outcome, clients: list[Client]) -> str:
    repeated = sum(max(0, sent - len(c.requests)) for sent, c in zip(
        outcome.requests_sent, clients, strict=True))  # fmt: skip
    return f"{repeated} request(s) repeated a client's earlier draw (it ran out of draws)"


async def run_measured(
    label: str, session: Session, clients: list[Client], seconds: float, *, cpu: bool = False
) -> Outcome:
    """A warm-up on other draws than the measured ones, then the measured run (``cpu``: and
    this process's CPU time per request)."""
    await drive(min(3.0, seconds / 3), _shifted(clients), session)
    client_before = time.process_time()
    outcome = await drive(seconds, clients, session)
    client_cpu = (time.process_time() - client_before) / max(1, outcome.count)
    print(outcome.line(label))
    if cpu:
        print(f"{label}: client CPU per request {client_cpu * 1000:.2f} ms")
    return outcome


MIXED: Final = "mixed"
#: The API as configured for the mixed draws: first without its response cache (the headline:
#: every request runs its statements, as the asyncpg side does), then with the default one.
HEADLINE = "HEADLINE api, no response cache"
CACHED = "api, response cache 2 s (default)"


@dataclass
class Results:
    """Outcomes by run (``MIXED``, each family, ``AUTOCOMPLETE``) of each side, and the rows
    each distinct request answered through asyncpg."""

    asyncpg: dict[str, Outcome] = field(default_factory=dict)
    api: dict[str, Outcome] = field(default_factory=dict)
    cached: Outcome | None = None
    answered: dict[str, int] = field(default_factory=dict)


#: ``--only`` choices: the runs each measures.
RUN_SETS: Final = {
    "all": (MIXED, "families", AUTOCOMPLETE),
    "families": ("families",),
    "mixed": (MIXED,),
    "autocomplete": (AUTOCOMPLETE,),
}


def _runs(workloads: Workloads, only: str) -> dict[str, list[Client]]:
    wanted = RUN_SETS[only]
    runs: dict[str, list[Client]] = {}
    if MIXED in wanted:
        runs[MIXED] = workloads.mixed
    if "families" in wanted:
        runs.update(workloads.families)
    if AUTOCOMPLETE in wanted:
        runs[AUTOCOMPLETE] = workloads.autocomplete
    return runs


async def _measure(
    arguments: argparse.Namespace,
    database_url: str,
    secret: str,
    pool: asyncpg.Pool,
    workloads: Workloads,
) -> Results:
    results = Results()
    raw = _asyncpg_session(pool, arguments.timeout, results.answered)
    # The API's workers share the connections the asyncpg side has: pool / workers each.
    worker_pool = max(1, arguments.pool_size // arguments.workers)
    async with served_api(database_url, secret, worker_pool, arguments.workers, 0.0) as (
        base_url,
        api_pid,
    ):
        session = _api_session(base_url, arguments.timeout, results.answered)
        # Each run through asyncpg, then at once through the API: on a shared machine both
        # sides of a ratio see about the same load.
        for name, clients in _runs(workloads, arguments.only).items():
            seconds = arguments.seconds if name == MIXED else arguments.family_seconds
            results.asyncpg[name] = await run_measured(
                f"asyncpg {name}", raw, clients, seconds, cpu=name == MIXED
            )
            if name == MIXED:
                results.api[name] = await _headline(arguments, HEADLINE, session, clients, api_pid)
            else:
                results.api[name] = await run_measured(f"api {name}", session, clients, seconds)
    if MIXED not in results.asyncpg:
        return results
    async with (
        served_api(database_url, secret, worker_pool, arguments.workers, 2.0) as (
            base_url,
            api_pid,
        ),
        httpx.AsyncClient(base_url=base_url, timeout=30) as probe,
    ):
        session = _api_session(base_url, arguments.timeout, results.answered)
        results.cached = await _headline(
            arguments, CACHED, session, workloads.mixed, api_pid, probe
        )
    return results


async def _headline(
    arguments: argparse.Namespace,
    label: str,
    session: Session,
    clients: list[Client],
    pid: int,
    probe: httpx.AsyncClient | None = None,
) -> Outcome:
    """The mixed draws against the API, with its CPU time per request and peak RSS, and
    (``probe``: the API has its response cache) the hit ratio it counted."""
    await drive(min(3.0, arguments.seconds), _shifted(clients), session)
    lookups_before = await cache_lookups(probe) if probe is not None else Counter[str]()
    api_before = tree_cpu_seconds(pid)
    client_before = time.process_time()
    outcome = await drive(arguments.seconds, clients, session)
    done = max(1, outcome.count)
    client_cpu = (time.process_time() - client_before) / done
    api_cpu = (tree_cpu_seconds(pid) - api_before) / done
    print(outcome.line(label))
    print(
        f"{label}: API processes CPU per request {api_cpu * 1000:.2f} ms "
        f"({arguments.workers} worker(s)), client CPU per request "
        f"{client_cpu * 1000:.2f} ms; {_wrapped(outcome, clients)}"
    )
    print(
        f"{label}: peak RSS of the API processes: "
        + ", ".join(f"pid {p} {megabytes(size)}" for p, size in tree_peak_rss(pid).items())
    )
    if probe is None:
        return outcome
    lookups = await cache_lookups(probe) - lookups_before
    looked_up = sum(lookups.values())
    if arguments.workers == 1 and looked_up:
        print(
            f"{label}: response cache hit ratio {lookups['hit'] / looked_up:.3f} "
            f"(hit {lookups['hit']}, shared {lookups['shared']}, miss {lookups['miss']}, "
            "as the API counted them)"
        )
    else:
        print(
            f"{label}: response cache hit ratio not measured (each of the "
            f"{arguments.workers} workers counts its own; run with --workers 1)"
        )
    return outcome


# -- the report -------------------------------------------------------------------------------


def _ratios(api: Outcome, raw: Outcome) -> tuple[float, float]:
    """(throughput, p99) of the API over asyncpg."""
    return api.throughput / raw.throughput, api.p99 / raw.p99


def _goal(throughput: float, p99: float) -> str:
    met = throughput >= THROUGHPUT_GOAL and p99 <= P99_GOAL
    return "met" if met else "NOT met"


def _rows_line(clients: list[Client], answered: dict[str, int]) -> str:
    rows = [answered[t] for t in {r.target for c in clients for r in c.requests} if t in answered]
    if not rows:
        return "no answer"
    empty = sum(1 for n in rows if n == 0)
    return (
        f"{len(rows):>5} answered, rows per page median {statistics.median(rows):5.1f} "
        f"max {max(rows):3}, empty {100 * empty / len(rows):3.0f}%"
    )


def report(arguments: argparse.Namespace, workloads: Workloads, results: Results) -> None:
    raw = results.asyncpg.get(MIXED)
    for label, api in ((HEADLINE, results.api.get(MIXED)), (CACHED, results.cached)):
        if api is None or raw is None:
            continue
        throughput, p99 = _ratios(api, raw)
        print(
            f"ratio {label} / asyncpg: p50 x{api.p50 / raw.p50:.2f}  p99 x{p99:.2f}  "
            f"throughput x{throughput:.2f}"
        )
    print(
        f"filter families alone, API without response cache against asyncpg (goal: throughput "
        f">= {THROUGHPUT_GOAL} x, p99 <= {P99_GOAL} x):"
    )
    print(
        f"{'family':<18} {'rows (distinct requests through asyncpg)':<58} {'thr x':>6} "
        f"{'p99 x':>6} {'api p99':>9} {'raw p99':>9}  goal"
    )
    for name, clients in workloads.families.items():
        if name not in results.api:
            continue
        throughput, p99 = _ratios(results.api[name], results.asyncpg[name])
        print(
            f"{name:<18} {_rows_line(clients, results.answered):<58} {throughput:6.2f} "
            f"{p99:6.2f} {results.api[name].p99 * 1000:7.2f}ms "
            f"{results.asyncpg[name].p99 * 1000:7.2f}ms  {_goal(throughput, p99)}"
        )
    if AUTOCOMPLETE not in results.api:
        return
    api, raw = results.api[AUTOCOMPLETE], results.asyncpg[AUTOCOMPLETE]
    throughput, p99 = _ratios(api, raw)
    verdict = "met" if api.p99 < AUTOCOMPLETE_P99_GOAL_S else "NOT met"
    print(
        f"{AUTOCOMPLETE} ({arguments.autocomplete_clients} clients): api p50 "
        f"{api.p50 * 1000:.2f} ms p99 {api.p99 * 1000:.2f} ms (goal < "
        f"{AUTOCOMPLETE_P99_GOAL_S * 1000:.0f} ms: {verdict}); x asyncpg: throughput "
        f"{throughput:.2f}, p99 {p99:.2f}; {_rows_line(workloads.autocomplete, results.answered)}"
    )


async def main(arguments: argparse.Namespace) -> None:
    async with api_dataset.prepared(
        arguments.database_url, arguments.data_dir, arguments.contracts
    ) as database_url:
        print(
            "contracts the content filters can select: "
            + ", ".join(f"{k} {v:,}" for k, v in (await api_dataset.shares(database_url)).items())
        )
        secret = uuid.uuid4().hex + uuid.uuid4().hex
        pool = await asyncpg.create_pool(
            asyncpg_dsn(database_url),
            min_size=arguments.pool_size,
            max_size=arguments.pool_size,
            server_settings={"jit": "off", "statement_timeout": "5000"},
        )
        try:
            started = time.perf_counter()
            codec = CursorCodec(secret.encode())
            positions = await sample_positions(pool)
            content = await sample_content(pool)
            families = usable_families(codec, positions, content)
            if arguments.family:
                unknown = sorted(set(arguments.family) - set(families))
                if unknown:
                    raise SystemExit(f"no such usable family: {unknown} (usable: {families})")
                families = [family for family in families if family in arguments.family]
            sizes = Sizes(
                arguments.seed,
                arguments.clients,
                arguments.draws,
                arguments.family_draws,
                arguments.autocomplete_clients,
            )
            workloads = draw_workloads(sizes, codec, positions, content, families)
            mixed = workloads.mixed
            distinct = len({r.target for c in mixed for r in c.requests})
            print(
                f"seeds {arguments.seed}..{arguments.seed + arguments.clients - 1} (one per "
                f"client), {arguments.draws} drawn requests per client, {distinct:,} distinct "
                f"of {arguments.clients * arguments.draws:,}, {CONTENT_SHARE:.0%} with a "
                f"content filter; {arguments.family_draws} per client and family "
                f"({', '.join(families)}); cursors at {len(positions):,} sampled rows; drawn "
                f"in {time.perf_counter() - started:.1f} s"
            )
            results = await _measure(arguments, database_url, secret, pool, workloads)
        finally:
            await pool.close()
    report(arguments, workloads, results)
    print(
        f"({arguments.contracts:,} contracts; {arguments.clients} concurrent clients, "
        f"{arguments.seconds:.0f} s for the mixed draws, {arguments.family_seconds:.0f} s per "
        f"family, {arguments.pool_size} connections, {arguments.workers} uvicorn worker(s); "
        f"client, API and PostgreSQL share {os.cpu_count()} cores; "
        f"{os.getloadavg()[0]:.2f} load average)"
    )


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--contracts", type=int, default=100_000, help="1000000 for the 1M-contract figures"
    )
    parser.add_argument("--seed", type=int, default=1, help="Seed of the first client's draws.")
    parser.add_argument("--draws", type=int, default=300, help="Requests drawn per client.")
    parser.add_argument(
        "--family-draws", type=int, default=40, help="Requests drawn per client and family."
    )
    parser.add_argument(
        "--timeout", type=float, default=30.0, help="A request taking longer has failed."
    )
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20.0, help="Each mixed run.")
    parser.add_argument(
        "--family-seconds", type=float, default=5.0, help="Each family's and the autocomplete's."
    )
    parser.add_argument(
        "--autocomplete-clients", type=int, default=4, help="Concurrent autocomplete clients."
    )
    parser.add_argument(
        "--pool-size", type=int, default=10, help="Connections, split among the API's workers."
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="uvicorn worker processes (HANGAR_API_WORKERS)."
    )
    parser.add_argument(
        "--only",
        choices=sorted(RUN_SETS),
        default="all",
        help="Measure only these runs (families: each filter family alone, no mixed draws).",
    )
    parser.add_argument(
        "--family",
        action="append",
        help="Draw and measure only this filter family (repeatable; default: every usable one).",
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
