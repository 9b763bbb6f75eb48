"""Fetcher requests and latency against the ESI simulator, on a Forge-sized region.

    uv run python -m benchmarks.bench_fetcher                        # 35,000 contracts
    uv run python -m benchmarks.bench_fetcher --contracts 1000 --churn 10 --steady-cycles 1

The simulator (``SimWorld`` + ``create_app``, run by ``python -m services.esi_sim.main``) is
served by uvicorn on 127.0.0.1 in a process of its own by default, so the fetcher goes through
its real HTTP client, connection pool and limits and the simulator's CPU does not share this
process's GIL (``--http thread``: uvicorn in a thread of this process; ``--http asgi``:
in-process through ``httpx.ASGITransport``, no HTTP at all). The fetcher publishes to JetStream
and keeps its state in Redis, on servers found the way the tests find them. What the
simulator lists is read through its admin routes (``/_sim/truth``, ``/_sim/stats``), which it
never counts as requests. Cycles are ``services.fetcher.main.run_once``:

1. cold: empty Redis, every contract new (measured separately, not a steady state);
2. steady (x ``--steady-cycles``): the world advances one generation (``churn`` contracts gone,
   about as many new), then one cycle at once. Requests come from the simulator's own counts
   (``/_sim/stats``); the goal is requests / (pages + new contracts) close to 1.0. "expiry to
   sweep stored" runs from the moment the new generation was available (the advance returned)
   to the time JetStream stored the region's sweep message (the stored message's own time);
3. idle: no advance, so every list page is a 304;
4. steady, 30 min later: as 2, but first the fetcher's ``bids_fresh`` keys are removed, as
   their TTL (ESI's 300 s bids cache) would have run out by the time a real list expires
   (1800 s). Steps 2 and 3 run seconds after the cold cycle, when every auction's bids are
   still fresh, which a real steady state never sees.

What is not included: the scheduler's wait between ``Expires`` and the cycle
(``expiry_jitter_seconds``, 0-10 s by default) and real network latency to ESI.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import httpx
import redis.asyncio as aioredis
import typer
import uvicorn
from fastapi import FastAPI

from benchmarks.support import (
    benchmark_servers,
    cleanup_after,
    load_average,
    megabytes,
    note,
    number,
    own_peak_rss,
    peak_rss,
    print_table,
    quiet_faststream,
    run_child,
    unique_prefix,
)
from common.esi_models import TYPES_WITH_ITEMS
from common.logs import configure_logging
from common.messages import RegionSweep
from common.subjects import Subjects
from services.esi_sim.app import create_app
from services.esi_sim.world import SimWorld
from services.fetcher.main import FetcherResources, fetcher_resources, run_once
from services.fetcher.settings import FetcherSettings
from services.stack.servers import ServerStartError, ServerUrls, free_port, wait_for_port

REGION = 10000002
PAGE_SIZE = 1000
ASGI_BASE_URL = "http://esi.test"

log = logging.getLogger("benchmarks.fetcher")


class BenchmarkError(RuntimeError):
    """A cycle did not do what it should have: its figures would be meaningless."""


class Http(StrEnum):
    process = "process"
    thread = "thread"
    asgi = "asgi"


HTTP_MODES = {
    Http.process: " (python -m services.esi_sim.main, uvicorn on 127.0.0.1, its own process)",
    Http.thread: " (uvicorn on 127.0.0.1 in a thread of this process: shares its GIL)",
    Http.asgi: " (httpx.ASGITransport: in this process and event loop, no HTTP)",
}


# -- the simulator ----------------------------------------------------------------------------


@contextlib.contextmanager
def simulator_process(options: Options, log_dir: Path) -> Iterator[tuple[str, int]]:
    """``python -m services.esi_sim.main`` (``SimWorld`` + ``create_app`` under uvicorn) in a
    process of its own; yields its base URL and pid."""
    port = free_port()
    log_path = log_dir / "esi-sim.log"
    command = [
        sys.executable, "-m", "services.esi_sim.main", "--host", "127.0.0.1",
        "--port", str(port), "--seed", str(options.seed),
        "--regions", f"{REGION}:{options.contracts}", "--churn", str(options.churn),
        "--no-auto-advance",
    ]  # fmt: skip
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT)
    try:
        try:
            wait_for_port(port, process, "esi-sim", timeout=120)
        except ServerStartError as error:
            tail = log_path.read_text(errors="replace")[-2000:]
            raise BenchmarkError(f"{error}; its log ends with:\n{tail}") from None
        yield f"http://127.0.0.1:{port}", process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class ThreadedServer:
    """uvicorn serving an ASGI app on 127.0.0.1 from a thread of this process."""

    def __init__(self, app: FastAPI) -> None:
        self.port = free_port()
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            access_log=False,
            lifespan="off",
            server_header=False,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="esi-sim", daemon=True)

    @contextlib.contextmanager
    def running(self) -> Iterator[str]:
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise BenchmarkError("the simulator's uvicorn server did not start")
            time.sleep(0.02)
        try:
            yield f"http://127.0.0.1:{self.port}"
        finally:
            self._server.should_exit = True
            self._thread.join(timeout=10)


#: contract id -> (type, number of item rows), as the simulator lists them now.
Listing = dict[int, tuple[str, int]]


@dataclass
class Sim:
    """The simulator seen through its admin routes (``/_sim``, never counted as requests)."""

    base_url: str
    transport: httpx.AsyncBaseTransport | None
    pid: int | None = None  #: the simulator's process, when it has its own

    @contextlib.asynccontextmanager
    async def _client(self) -> AsyncIterator[httpx.AsyncClient]:
        async with httpx.AsyncClient(
            base_url=self.base_url, transport=self.transport, timeout=120
        ) as client:
            yield client

    async def _admin(self, method: str, path: str) -> dict[str, Any]:
        async with self._client() as client:
            response = await client.request(method, f"/_sim{path}")
            response.raise_for_status()
            result: dict[str, Any] = response.json()
            return result

    async def stats(self) -> dict[str, Any]:
        return await self._admin("GET", "/stats")

    async def reset_stats(self) -> None:
        await self._admin("POST", "/reset-stats")

    async def advance(self) -> int:
        return int((await self._admin("POST", "/advance"))["generation"])

    async def listing(self) -> Listing:
        truth = await self._admin("GET", "/truth")
        contracts: dict[str, dict[str, Any]] = truth["regions"].get(str(REGION), {})
        return {int(cid): (str(c["type"]), len(c["items"])) for cid, c in contracts.items()}


def requests_needed(listing: Listing, new: set[int], pages: int) -> int:
    """The fewest requests that see what changed: every list page, every item page of each new
    item exchange or auction, one bids request per new auction."""
    needed = pages
    for contract_id in new:
        kind, items = listing[contract_id]
        if kind in TYPES_WITH_ITEMS:
            needed += max(1, -(-items // PAGE_SIZE))
        if kind == "auction":
            needed += 1
    return needed


# -- cycles -----------------------------------------------------------------------------------


@dataclass
class Cycle:
    kind: str
    seconds: float
    requests: int
    list_ok: int
    list_not_modified: int
    items: int
    bids: int
    other: int
    pages: int
    new_contracts: int
    new_auctions: int
    published: int
    needed: int
    expiry_to_sweep: float | None

    @property
    def bids_refresh(self) -> int:
        """Bids requests for auctions already known: their 300 s cache ran out."""
        return max(0, self.bids - self.new_auctions)

    @property
    def for_changes(self) -> int:
        """Requests for what changed: everything but the bids refresh of known auctions."""
        return self.requests - self.bids_refresh

    @property
    def per_unit(self) -> float:
        """Requests per (page + new contract): 1.0 is one request for each thing that changed."""
        return self.requests / max(1, self.pages + self.new_contracts)

    @property
    def per_unit_for_changes(self) -> float:
        return self.for_changes / max(1, self.pages + self.new_contracts)

    @property
    def waste(self) -> float:
        """Requests for what changed / the fewest that see it (1.00: nothing wasted)."""
        return self.for_changes / max(1, self.needed)


async def _sweep_stored_at(
    resources: FetcherResources, subjects: Subjects, listed: set[int]
) -> float:
    """When JetStream stored the region's sweep (epoch seconds), checking it is the sweep of
    the generation the simulator lists now."""
    js = resources.nats.jetstream()
    stored = await js.get_last_msg(subjects.stream, subjects.sweep(REGION))
    if stored.data is None or stored.time is None:
        raise BenchmarkError("the stored sweep message has no body or no time")
    sweep = RegionSweep.model_validate_json(stored.data)
    if set(sweep.contract_ids) != listed:
        raise BenchmarkError(
            f"the stored sweep (generation {sweep.generation.isoformat()}) lists "
            f"{len(sweep.contract_ids)} contracts, not the {len(listed)} listed now"
        )
    return stored.time.timestamp()


async def run_cycle(
    kind: str,
    sim: Sim,
    resources: FetcherResources,
    subjects: Subjects,
    *,
    advance: bool,
    new_contracts: bool = False,
) -> Cycle:
    """One ``run_once``; ``new_contracts``: every listed contract counts as new (cold)."""
    before = set(await sim.listing())
    available_at: float | None = None
    if advance:
        await sim.advance()
        available_at = time.time()  # the new generation is served from now on
    await sim.reset_stats()
    started = time.perf_counter()
    reports = await run_once(resources)
    seconds = time.perf_counter() - started
    stats = await sim.stats()
    (report,) = reports
    if report.degraded:
        raise BenchmarkError(f"{kind} cycle degraded: {report.problems}")
    listing = await sim.listing()
    after = set(listing)
    new = after if new_contracts else after - before
    added = len(new)
    if report.published != added:
        raise BenchmarkError(f"{kind} cycle published {report.published} of {added} new contracts")
    expiry_to_sweep = None
    if available_at is not None:
        stored_at = await _sweep_stored_at(resources, subjects, after)
        expiry_to_sweep = stored_at - available_at
    by_route: dict[str, int] = stats["by_route"]
    contracts_by_status: dict[str, int] = stats["requests"]["contracts"]
    return Cycle(
        kind=kind,
        seconds=seconds,
        requests=int(stats["total"]),
        list_ok=contracts_by_status.get("200", 0),
        list_not_modified=contracts_by_status.get("304", 0),
        items=by_route.get("items", 0),
        bids=by_route.get("bids", 0),
        other=by_route.get("regions", 0) + by_route.get("other", 0),
        pages=report.pages,
        new_contracts=added,
        new_auctions=sum(1 for c in new if listing[c][0] == "auction"),
        published=report.published,
        needed=requests_needed(listing, new, report.pages),
        expiry_to_sweep=expiry_to_sweep,
    )


async def expire_bids_freshness(redis_url: str, prefix: str) -> int:
    """What 30 minutes do to the fetcher's state: every ``bids_fresh`` key (TTL = ESI's 300 s
    bids cache) has expired. Nothing else the fetcher keeps expires within a list period."""
    client = aioredis.from_url(redis_url)
    try:
        keys = [k async for k in client.scan_iter(match=f"{prefix}:bids_fresh:*", count=1000)]
        for start in range(0, len(keys), 1000):
            await client.delete(*keys[start : start + 1000])
    finally:
        await client.aclose()
    return len(keys)


# -- report -----------------------------------------------------------------------------------


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def report(cycles: list[Cycle], options: Options, facts: list[str]) -> None:
    note(
        f"\n[bold]Fetcher benchmark[/bold]: region {REGION} with {options.contracts:,} contracts"
        f", churn {options.churn} per generation; simulator over {options.http.value}"
        + HTTP_MODES[options.http]
        + f"; max_in_flight {options.settings_value('max_in_flight')}, "
        f"enrichment_concurrency {options.settings_value('enrichment_concurrency')}."
    )
    for fact in facts:
        note(fact)
    rows = [
        [
            c.kind,
            f"{c.seconds:.3f}",
            _seconds(c.expiry_to_sweep),
            f"{c.requests:,}",
            f"{c.list_ok}/{c.list_not_modified}",
            f"{c.items:,}",
            f"{c.bids - c.bids_refresh:,}",
            f"{c.bids_refresh:,}",
            str(c.pages),
            f"{c.new_contracts:,}",
            f"{c.per_unit:.2f}",
            f"{c.per_unit_for_changes:.2f}",
            f"{c.needed:,}",
            f"{c.waste:.2f}",
        ]
        for c in cycles
    ]
    print_table(
        "Cycles (requests as the simulator counted them)",
        ["cycle", "cycle s", "to sweep s", "requests", "list 200/304", "items", "bids new",
         "bids refresh", "pages", "new", "req/(p+new)", "w/o refresh", "needed", "w/o r./needed"],
        rows,
    )  # fmt: skip
    steady = [c for c in cycles if c.kind.startswith("steady")]
    immediate = [c for c in steady if "30 min" not in c.kind]
    later = [c for c in steady if "30 min" in c.kind]
    idle = [c for c in cycles if c.kind == "idle"]
    summary: list[list[str]] = []
    if immediate:
        ratio = statistics.median(c.per_unit_for_changes for c in immediate)
        summary.append(
            ["steady: (requests - bids refresh) / (pages + new)", f"{ratio:.2f}",
             "close to 1.0", _verdict(ratio <= 1.1)]
        )  # fmt: skip
        waste = statistics.median(c.waste for c in immediate)
        summary.append(
            ["steady: (requests - bids refresh) / needed", f"{waste:.2f}", "1.00",
             _verdict(waste <= 1.01)]
        )  # fmt: skip
        ratio_all = statistics.median(c.per_unit for c in immediate)
        summary.append(
            ["steady: requests / (pages + new), as they came", f"{ratio_all:.2f}", "", ""]
        )
    for c in later:
        summary.append(
            ["steady 30 min later: requests / (pages + new)", f"{c.per_unit:.2f}",
             "close to 1.0", _verdict(c.per_unit <= 1.1)]
        )  # fmt: skip
    if steady:
        latencies = [c.expiry_to_sweep or 0.0 for c in steady]
        summary.append(
            ["steady: expiry to sweep stored (s, median)", f"{statistics.median(latencies):.3f}",
             "", f"{min(latencies):.3f}-{max(latencies):.3f}"]
        )  # fmt: skip
        durations = [c.seconds for c in steady]
        summary.append(
            ["steady: whole cycle (s, median)", f"{statistics.median(durations):.3f}", "",
             f"{min(durations):.3f}-{max(durations):.3f}"]
        )  # fmt: skip
    for c in idle:
        clean = c.list_not_modified == c.pages == c.list_ok + c.list_not_modified
        summary.append(
            ["idle: list requests / pages, all 304, no items",
             f"{(c.list_ok + c.list_not_modified) / max(1, c.pages):.2f}", "1.0",
             _verdict(clean and c.items == 0)]
        )  # fmt: skip
        summary.append(
            ["idle: requests (incl. bids refresh)", f"{c.requests:,}", "", ""]
        )  # fmt: skip
        summary.append(["idle: whole cycle (s)", f"{c.seconds:.3f}", "", ""])
    print_table("Summary (ratios from this run's counts)", ["", "value", "goal", ""], summary)
    others = sum(c.other for c in cycles)
    note(
        "'to sweep s': from the moment the new generation was served to the time JetStream "
        "stored the sweep (excludes the scheduler's wait after Expires). 'new': contracts listed "
        "now and not before; every one was published (checked). 'bids new': bids requests up "
        "to one per new auction; 'bids refresh': the rest, known auctions whose bids were due "
        "again (the fetcher keeps them fresh for ESI's 300 s bids cache, so in a real steady "
        "state, cycles 1800 s apart, every auction is due at every cycle: see 'steady, 30 min "
        "later'; in the other cycles it depends on how long the cycles before took). "
        "'req/(p+new)': requests / (pages + new contracts), below 1.0 because couriers, loans "
        "and unknowns (30%) need no items request. 'needed': list pages + item pages of new "
        "item exchanges and auctions + one bids request per new auction; 'w/o r./needed' = "
        f"1.00: no request wasted. Requests to other routes (/universe/regions, unrouted): "
        f"{others}."
    )


def _verdict(met: bool) -> str:
    return "[green]met[/green]" if met else "[red]NOT met[/red]"


# -- command line -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    contracts: int
    churn: int
    steady_cycles: int
    http: Http
    max_in_flight: int | None
    enrichment_concurrency: int | None
    seed: int
    keep: bool
    log_level: str
    stale_known: int

    def settings_value(self, name: str) -> object:
        configured = getattr(self, name)
        if configured is not None:
            return configured
        return FetcherSettings.model_fields[name].default


@dataclass(frozen=True)
class MemoryRun:
    known: int
    redis_bytes: int
    peak_rss: int
    seconds: float


async def _known_and_redis_bytes(redis_url: str, prefix: str) -> tuple[int, int]:
    client = aioredis.from_url(redis_url)
    try:
        known = int(await client.scard(f"{prefix}:known"))
        used = int((await client.info("memory"))["used_memory"])
    finally:
        await client.aclose()
    return known, used


async def add_stale_known(redis_url: str, prefix: str, count: int) -> None:
    """``count`` contract ids the fetcher has seen in earlier sweeps and no region lists any
    more (ids far above the simulator's), as months of churn leave in the known set."""
    client = aioredis.from_url(redis_url)
    try:
        step = 10_000
        for start in range(0, count, step):
            ids = range(9_000_000_000 + start, 9_000_000_000 + min(count, start + step))
            await client.sadd(f"{prefix}:known", *(str(i) for i in ids))
    finally:
        await client.aclose()


async def memory_phase(
    urls: ServerUrls, options: Options, sim: Sim, prefix: str
) -> list[MemoryRun]:
    """``hangar-bay fetcher --once`` in a process of its own after an advance of the world:
    once with the known contracts the cycles above left, once more with
    ``options.stale_known`` more in Redis. Its peak RSS must not follow the known set."""
    environment = {
        **os.environ,
        "HANGAR_DATABASE_URL": urls.database_url,
        "HANGAR_NATS_URL": urls.nats_url,
        "HANGAR_REDIS_URL": urls.redis_url,
        "HANGAR_NAME_PREFIX": prefix,
        "HANGAR_ESI_BASE_URL": sim.base_url,
        "HANGAR_REGIONS": str(REGION),
        "HANGAR_CONTACT": "hangar-bay benchmark",
        "HANGAR_LOG_LEVEL": "WARNING",
        "HANGAR_LOG_JSON": "true",
    }
    runs = []
    for stale in (0, options.stale_known):
        if stale:
            await add_stale_known(urls.redis_url, prefix, stale)
        await sim.advance()
        known, redis_bytes = await _known_and_redis_bytes(urls.redis_url, prefix)
        run = await run_child("services.cli", ["fetcher", "--once"], environment)
        if run.returncode != 0:
            raise BenchmarkError(
                f"hangar-bay fetcher --once exited with {run.returncode}: {run.stderr[-2000:]}"
            )
        runs.append(MemoryRun(known, redis_bytes, run.peak_rss, run.seconds))
    return runs


def memory_report(runs: list[MemoryRun], simulator_rss: int | None) -> None:
    print_table(
        "Fetcher process (hangar-bay fetcher --once, one steady cycle) by known contracts",
        ["known contracts", "Redis used_memory", "fetcher peak RSS", "seconds"],
        [
            [number(run.known), megabytes(run.redis_bytes), megabytes(run.peak_rss),
             f"{run.seconds:.1f}"]
            for run in runs
        ],
    )  # fmt: skip
    first, last = runs[0], runs[-1]
    note(
        f"known contracts x{last.known / max(1, first.known):.1f}: fetcher peak RSS "
        f"x{last.peak_rss / first.peak_rss:.2f} ({megabytes(last.peak_rss - first.peak_rss)}), "
        f"Redis used_memory x{last.redis_bytes / max(1, first.redis_bytes):.1f}"
    )
    if simulator_rss is not None:
        note(f"peak RSS of the simulator's process so far: {megabytes(simulator_rss)}")


async def bench(urls: ServerUrls, options: Options, sim: Sim) -> None:
    prefix = unique_prefix("f")
    subjects = Subjects(prefix)
    facts = [f"at start: {load_average()}"]
    values: dict[str, Any] = {
        "database_url": urls.database_url,
        "nats_url": urls.nats_url,
        "redis_url": urls.redis_url,
        "name_prefix": prefix,
        "esi_base_url": sim.base_url,
        "regions": [REGION],
        "contact": "hangar-bay benchmark",
        "log_level": options.log_level,
    }
    if options.max_in_flight is not None:
        values["max_in_flight"] = options.max_in_flight
    if options.enrichment_concurrency is not None:
        values["enrichment_concurrency"] = options.enrichment_concurrency
    settings = FetcherSettings(**values)
    cycles: list[Cycle] = []
    async with (
        cleanup_after(urls, prefix, None, keep=options.keep),
        fetcher_resources(settings, sim.transport) as resources,
    ):
        log.info("cold cycle starts")
        cycles.append(
            await run_cycle("cold", sim, resources, subjects, advance=False, new_contracts=True)
        )
        for number in range(1, options.steady_cycles + 1):
            log.info("steady cycle starts", extra={"cycle": number})
            cycles.append(
                await run_cycle(f"steady {number}", sim, resources, subjects, advance=True)
            )
        cycles.append(await run_cycle("idle", sim, resources, subjects, advance=False))
        expired = await expire_bids_freshness(urls.redis_url, prefix)
        log.info("bids freshness expired", extra={"keys": expired})
        cycles.append(
            await run_cycle("steady, 30 min later", sim, resources, subjects, advance=True)
        )
        facts.append(
            f"peak RSS of this process, which ran the fetcher in-process: "
            f"{megabytes(own_peak_rss())}"
        )
        memory: list[MemoryRun] = []
        simulator_rss: int | None = None
        if options.stale_known and sim.pid is not None:
            memory = await memory_phase(urls, options, sim, prefix)
            simulator_rss = peak_rss(sim.pid)
    facts.append(f"at end: {load_average()}")
    facts.append(
        f"{expired:,} bids_fresh keys expired before the last cycle (auctions whose bids the "
        "fetcher had fetched)."
    )
    report(cycles, options, facts)
    if memory:
        memory_report(memory, simulator_rss)
    elif options.stale_known:
        note(
            "fetcher process memory not measured: it needs the simulator over HTTP (--http process)"
        )


app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@app.command()
def main(
    contracts: Annotated[
        int, typer.Option(min=1, help="Contracts in the region (The Forge: about 35,000).")
    ] = 35_000,
    churn: Annotated[
        int, typer.Option(min=0, help="Contracts gone (and about as many new) per generation.")
    ] = 115,
    steady_cycles: Annotated[
        int, typer.Option(min=1, help="Steady-state cycles right after the cold one.")
    ] = 3,
    http: Annotated[
        Http,
        typer.Option(
            help="Where the simulator runs: its own process (uvicorn), a uvicorn thread of this "
            "process, or in-process through httpx.ASGITransport."
        ),
    ] = Http.process,
    max_in_flight: Annotated[
        int | None, typer.Option(min=1, help="Fetcher max_in_flight (default: its own).")
    ] = None,
    enrichment_concurrency: Annotated[
        int | None,
        typer.Option(min=1, help="Fetcher enrichment_concurrency (default: its own)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the simulated world.")] = 7,
    stale_known: Annotated[
        int,
        typer.Option(
            min=0,
            help="Known contracts added to Redis before the second fetcher-process cycle "
            "(0: no fetcher-process memory runs).",
        ),
    ] = 1_000_000,
    work_dir: Annotated[
        Path | None,
        typer.Option(help="Where embedded servers keep their data (default: a temporary dir)."),
    ] = None,
    keep: Annotated[
        bool, typer.Option("--keep", help="Keep the stream and Redis keys afterwards.")
    ] = False,
    log_level: Annotated[str, typer.Option(help="Log level of the services.")] = "WARNING",
) -> None:
    """Fetcher requests per steady-state cycle and expiry-to-sweep latency, on the simulator."""
    configure_logging(log_level, json=False)
    quiet_faststream(log_level)
    options = Options(
        contracts=contracts,
        churn=churn,
        steady_cycles=steady_cycles,
        http=http,
        max_in_flight=max_in_flight,
        enrichment_concurrency=enrichment_concurrency,
        seed=seed,
        keep=keep,
        log_level=log_level,
        stale_known=stale_known,
    )
    with (
        benchmark_servers(work_dir) as urls,
        tempfile.TemporaryDirectory(prefix="hangar-bench-sim-") as sim_dir,
        contextlib.ExitStack() as stack,
    ):
        try:
            if http is Http.process:
                base_url, pid = stack.enter_context(simulator_process(options, Path(sim_dir)))
                sim = Sim(base_url, None, pid)
            else:
                world = SimWorld(seed=seed, regions={REGION: contracts}, churn_per_generation=churn)
                if http is Http.thread:
                    base_url = stack.enter_context(ThreadedServer(create_app(world)).running())
                    sim = Sim(base_url, None)
                else:
                    sim = Sim(ASGI_BASE_URL, httpx.ASGITransport(app=create_app(world)))
            asyncio.run(bench(urls, options, sim))
        except BenchmarkError as error:
            typer.echo(f"benchmark failed: {error}", err=True)
            raise typer.Exit(1) from None


if __name__ == "__main__":
    app()
