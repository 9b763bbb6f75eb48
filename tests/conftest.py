"""Shared fixtures: real servers once per session, isolated names and databases per test."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import nats
import pytest
import redis.asyncio as aioredis

from common.db import asyncpg_dsn, with_database
from common.migration import upgrade_async
from common.sde.loader import load_catalog
from common.settings import HangarSettings
from common.subjects import Subjects
from services.stack.servers import ServerUrls, test_servers

#: Real ESI payloads (EVE Ref fixtures and an esi-issues thread), copied from the ESI research.
SAMPLES_DIR = Path(__file__).resolve().parent / "samples"


@pytest.fixture(scope="session")
def servers() -> Iterator[ServerUrls]:
    # Not under pytest's tmp_path: concurrent pytest runs prune each other's numbered
    # directories there, and embedded PostgreSQL runs as another user when started by root.
    work_dir = Path(tempfile.mkdtemp(prefix="hangar-bay-test-"))
    work_dir.chmod(0o755)
    try:
        with test_servers(work_dir) as urls:
            yield urls
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)


@contextlib.asynccontextmanager
async def _scratch_database(
    servers: ServerUrls, prefix: str, *, template: str | None = None
) -> AsyncIterator[str]:
    """A new database (a copy of ``template`` when given) under a fresh name, dropped after."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(asyncpg_dsn(with_database(servers.database_url, "postgres")))
    try:
        copied = f' TEMPLATE "{template}"' if template is not None else ""
        await admin.execute(f'CREATE DATABASE "{name}"{copied}')
        try:
            yield name
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(scope="session")
async def template_database(servers: ServerUrls) -> AsyncIterator[str]:
    """A database migrated to head and holding the SDE catalog (as ``hangar-bay migrate``
    leaves it), once per session; each test copies it."""
    async with _scratch_database(servers, "hb_template") as name:
        await upgrade_async(with_database(servers.database_url, name))
        await load_catalog(with_database(servers.database_url, name))
        yield name


@pytest.fixture
async def database_url(servers: ServerUrls, template_database: str) -> AsyncIterator[str]:
    """A database of its own for this test, migrated to head."""
    async with _scratch_database(servers, "hb_test", template=template_database) as name:
        yield with_database(servers.database_url, name)


@pytest.fixture
async def empty_database_url(servers: ServerUrls) -> AsyncIterator[str]:
    """A database with no schema at all (for migration and replay tests)."""
    async with _scratch_database(servers, "hb_empty") as name:
        yield with_database(servers.database_url, name)


@pytest.fixture
def name_prefix() -> str:
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def settings(
    servers: ServerUrls, database_url: str, name_prefix: str
) -> AsyncIterator[HangarSettings]:
    """Settings isolated for this test; its streams and Redis keys are removed afterwards."""
    yield HangarSettings(
        database_url=database_url,
        nats_url=servers.nats_url,
        redis_url=servers.redis_url,
        name_prefix=name_prefix,
    )
    await _remove_streams(servers.nats_url, Subjects(name_prefix))
    await _remove_redis_keys(servers.redis_url, name_prefix)


async def _remove_streams(nats_url: str, subjects: Subjects) -> None:
    client = await nats.connect(nats_url)
    try:
        stream_manager = client.jetstream()
        for stream in (subjects.stream, subjects.dead_letter_stream):
            with contextlib.suppress(nats.js.errors.NotFoundError):
                await stream_manager.delete_stream(stream)
    finally:
        await client.close()


async def _remove_redis_keys(redis_url: str, prefix: str) -> None:
    client = aioredis.from_url(redis_url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests last: Playwright's synchronous API keeps an event loop of its own running
    in this thread for the rest of the session, where no asyncio test could run after it."""
    browser = Path(__file__).resolve().parent / "browser"
    items.sort(key=lambda item: Path(str(item.path)).is_relative_to(browser))
