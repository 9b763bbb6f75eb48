"""What the benchmarks share: servers found the way the tests find them, throwaway databases,
streams and Redis keys under a name prefix of their own, an embedded PostgreSQL with a kept
database, the API served in a child process, timing helpers, percentiles and result tables.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import nats
import redis.asyncio as aioredis
from nats.js.errors import NotFoundError
from rich.console import Console
from rich.table import Table

from common.db import asyncpg_dsn, with_database
from common.migration import upgrade_async
from common.sde.loader import load_catalog
from common.subjects import Subjects
from services.stack.servers import ServerUrls, free_port, start_postgres, test_servers

console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)


def quiet_faststream(level: str) -> None:
    """FastStream's access logger has a stdout handler of its own and is reset to the broker's
    level whenever a broker is built: a filter is what survives that."""
    threshold = logging.getLevelName(level.upper())
    if not isinstance(threshold, int):
        threshold = logging.WARNING

    def at_least(record: logging.LogRecord) -> bool:
        return record.levelno >= threshold

    for name in ("faststream.access.nats", "faststream"):
        logging.getLogger(name).addFilter(at_least)


def unique_prefix(kind: str) -> str:
    """A name prefix (streams, subjects, Redis keys, databases) no other run shares."""
    return f"bench{kind}{uuid.uuid4().hex[:8]}"


@contextlib.contextmanager
def benchmark_servers(work_dir: Path | None) -> Iterator[ServerUrls]:
    """PostgreSQL, NATS JetStream and Redis exactly as the tests get them: the
    ``HANGAR_TEST_*`` URLs where set, else containers or embedded servers (data in a temporary
    directory unless ``work_dir`` is given)."""
    if work_dir is not None:
        work_dir.mkdir(parents=True, exist_ok=True)
        with test_servers(work_dir) as urls:
            yield urls
        return
    with (
        tempfile.TemporaryDirectory(prefix="hangar-bench-", ignore_cleanup_errors=True) as tmp,
        test_servers(Path(tmp)) as urls,
    ):
        yield urls


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


async def bench_database(server_url: str, kept_name: str | None) -> str:
    """The URL of a database on the server: ``kept_name`` (created when missing, so that the
    next run finds its data), else a new one for this run only."""
    name = kept_name or f"hangar_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(asyncpg_dsn(with_database(server_url, "postgres")))
    try:
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return with_database(server_url, name)


@contextlib.asynccontextmanager
async def served_api(
    database_url: str, secret: str, pool_size: int, workers: int, response_cache_s: float
) -> AsyncIterator[tuple[str, int]]:
    """The API (``services.api.main.run``) in a child process, once it answers ``/readyz``:
    its base URL and process id."""
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


class Databases:
    """Databases of one benchmark run: a template migrated to head once, copied per use."""

    def __init__(self, server_url: str, prefix: str) -> None:
        self._server_url = server_url
        self._prefix = prefix.lower()
        self._created: list[str] = []
        self._template: str | None = None

    async def _admin(self) -> asyncpg.Connection:
        return await asyncpg.connect(asyncpg_dsn(with_database(self._server_url, "postgres")))

    async def _create(self, name: str, template: str | None = None) -> str:
        admin = await self._admin()
        try:
            clause = f' TEMPLATE "{template}"' if template else ""
            await admin.execute(f'CREATE DATABASE "{name}"{clause}')
        finally:
            await admin.close()
        self._created.append(name)
        return with_database(self._server_url, name)

    async def fresh(self, label: str) -> str:
        """The URL of a new database as ``hangar-bay migrate`` leaves it: migrated to head (PK,
        FK and every index) with the SDE type catalog loaded, which the derived fields read."""
        if self._template is None:
            name = f"{self._prefix}_template"
            url = await self._create(name)
            await upgrade_async(url)
            await load_catalog(url)
            self._template = name
        return await self._create(f"{self._prefix}_{label}", self._template)

    async def drop_all(self) -> None:
        admin = await self._admin()
        try:
            for name in reversed(self._created):
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
        self._created.clear()


async def checkpoint(database_url: str) -> None:
    """Flush dirty pages before a timed phase so that it does not pay for an earlier one's
    writes (needs superuser, which the test servers give; skipped otherwise)."""
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        with contextlib.suppress(asyncpg.InsufficientPrivilegeError):
            await connection.execute("CHECKPOINT")
    finally:
        await connection.close()


async def fetch_value(database_url: str, query: str) -> int:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        value = await connection.fetchval(query)
    finally:
        await connection.close()
    return int(value or 0)


async def remove_streams(nats_url: str, prefix: str) -> None:
    subjects = Subjects(prefix)
    client = await nats.connect(nats_url)
    try:
        js = client.jetstream()
        for stream in (subjects.stream, subjects.dead_letter_stream):
            with contextlib.suppress(NotFoundError):
                await js.delete_stream(stream)
    finally:
        await client.close()


async def remove_redis_keys(redis_url: str, prefix: str) -> None:
    client = aioredis.from_url(redis_url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*", count=1000)]
        for start in range(0, len(keys), 1000):
            await client.unlink(*keys[start : start + 1000])  # freed in the background
    finally:
        await client.aclose()


@contextlib.asynccontextmanager
async def cleanup_after(
    urls: ServerUrls, prefix: str, databases: Databases | None, *, keep: bool
) -> AsyncIterator[None]:
    """Remove the run's databases, streams and Redis keys afterwards (unless ``keep``): they
    matter when the servers are shared ones given by ``HANGAR_TEST_*``."""
    try:
        yield
    finally:
        if not keep:
            if databases is not None:
                await databases.drop_all()
            await remove_streams(urls.nats_url, prefix)
            await remove_redis_keys(urls.redis_url, prefix)


@dataclass
class Samples:
    """Repeated measurements of one quantity (seconds)."""

    values: list[float] = field(default_factory=list)

    def add(self, value: float) -> None:
        self.values.append(value)

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def spread(self) -> str:
        if len(self.values) < 2:
            return ""
        return f"{min(self.values):.3f}-{max(self.values):.3f}"


class Stopwatch:
    """``with Stopwatch() as watch: ...`` then ``watch.seconds``."""

    def __init__(self) -> None:
        self.started = 0.0
        self.seconds = 0.0

    def __enter__(self) -> Stopwatch:
        self.started = time.perf_counter()
        return self

    def __exit__(self, *_: object) -> None:
        self.seconds = time.perf_counter() - self.started


def rate(count: float, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def number(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "-"
    if value == float("inf"):
        return "inf"
    return f"{value:,.{digits}f}"


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    table = Table(title=title, title_justify="left", show_lines=False)
    for index, column in enumerate(columns):
        table.add_column(column, justify="left" if index == 0 else "right")
    for row in rows:
        table.add_row(*row)
    console.print(table)


def load_average() -> str:
    """The machine's load: the benchmarks share two cores with whatever else runs."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} / {five:.2f} / {fifteen:.2f} (1 / 5 / 15 min)"


def note(text: str) -> None:
    console.print(text, soft_wrap=True)


# -- memory -----------------------------------------------------------------------------------


def megabytes(size: int) -> str:
    return f"{size / 2**20:,.1f} MB"


def peak_rss(pid: int) -> int | None:
    """The peak resident set (``VmHWM``) of a live process, in bytes; None once it is gone."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return None


def own_peak_rss() -> int:
    return peak_rss(os.getpid()) or 0


def reset_own_peak_rss() -> bool:
    """Start this process's ``VmHWM`` again from its current resident set (Linux
    ``clear_refs``), so that a later :func:`own_peak_rss` is the peak of what ran in between."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def child_pids(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                found += [int(child) for child in (task / "children").read_text().split()]
    return found


@dataclass(frozen=True)
class ChildRun:
    """A child process run to its end: exit status, wall seconds, peak RSS (bytes) and its
    output."""

    returncode: int
    seconds: float
    peak_rss: int
    stdout: str
    stderr: str


#: Runs a module as ``python -m`` would, and writes the process's own ``VmHWM`` to the file
#: named by ``HANGAR_BENCH_PEAK_FILE`` when the interpreter exits. Not ``ru_maxrss`` from
#: ``wait4``: Linux carries the parent's high-water mark into a child's across fork and exec,
#: so that figure is never below this benchmark process's own peak.
_PEAK_REPORTING_MAIN = """
import atexit, os, runpy, sys

def _report_peak():
    with open("/proc/self/status") as status:
        peak = next(line for line in status if line.startswith("VmHWM:"))
    with open(os.environ["HANGAR_BENCH_PEAK_FILE"], "w") as out:
        out.write(peak.split()[1])

atexit.register(_report_peak)
module = sys.argv[1]
sys.argv = [module, *sys.argv[2:]]
runpy.run_module(module, run_name="__main__", alter_sys=True)
"""


def _run_child(module: str, arguments: Sequence[str], environment: dict[str, str]) -> ChildRun:
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.TemporaryDirectory(prefix="hangar-bench-peak-") as peak_dir,
    ):
        peak_file = Path(peak_dir) / "vmhwm"
        command = [sys.executable, "-c", _PEAK_REPORTING_MAIN, module, *arguments]
        started = time.perf_counter()
        process = subprocess.Popen(
            command,
            env={**environment, "HANGAR_BENCH_PEAK_FILE": str(peak_file)},
            stdout=out,
            stderr=err,
        )
        returncode = process.wait()
        seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        peak_kib = int(peak_file.read_text()) if peak_file.exists() else 0
        return ChildRun(
            returncode,
            seconds,
            peak_kib * 1024,
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
        )


async def run_child(module: str, arguments: Sequence[str], environment: dict[str, str]) -> ChildRun:
    """Run ``python -m module arguments`` to its end in a thread (the event loop stays free);
    its peak RSS is the one it reports itself when it exits (0 if it could not)."""
    return await asyncio.to_thread(_run_child, module, arguments, environment)


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (``fraction`` 0.99: the value 99 % of the values are at or
    under)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]
