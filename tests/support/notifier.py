"""The notifier and persister in-process, saved searches written directly, and waiting for
alerts to land."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from common.db import asyncpg_dsn
from common.settings import HangarSettings
from common.subjects import Subjects
from services.api.search_schemas import SearchIn
from services.api.search_store import create_search
from services.notifier.main import serve
from services.notifier.settings import NotifierSettings
from services.persister.main import serve as serve_persister
from services.persister.settings import PersisterSettings


def notifier_settings(settings: HangarSettings, **overrides: Any) -> NotifierSettings:
    values: dict[str, Any] = {
        **settings.model_dump(),
        "visibility_retry_seconds": 0.1,
        "webhook_poll_seconds": 0.2,
        **overrides,
    }
    return NotifierSettings(**values)


@asynccontextmanager
async def running_notifier(settings: NotifierSettings) -> AsyncIterator[asyncio.Task[None]]:
    stop = asyncio.Event()
    task = asyncio.create_task(serve(settings, stop))
    try:
        yield task
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def persist(settings: HangarSettings) -> None:
    await serve_persister(
        PersisterSettings(**{**settings.model_dump(), "retry_delay_seconds": 0.2}),
        until_idle=True,
    )


async def save_search(
    database_url: str, account_id: int, body: dict[str, Any], max_searches: int = 100_000
) -> int:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        found = await create_search(
            connection, account_id, SearchIn.model_validate(body), max_searches
        )
    finally:
        await connection.close()
    return int(found["search_id"])


async def eventually(
    check: Callable[[], Awaitable[bool]], *, within: float = 60.0, what: str = "condition"
) -> None:
    """Poll until ``check`` holds; fail after ``within`` seconds (a bound on waiting, not a
    timing assertion)."""
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {within} s")
        await asyncio.sleep(0.1)


async def alert_pairs(database_url: str) -> list[tuple[int, int]]:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        rows = await connection.fetch(
            "SELECT search_id, contract_id FROM alerts ORDER BY search_id, contract_id"
        )
    finally:
        await connection.close()
    return [(r["search_id"], r["contract_id"]) for r in rows]


async def notifier_drained(js: JetStreamContext, settings: HangarSettings) -> bool:
    """The notifier's durable consumer has delivered something and has nothing left to deliver
    or settle."""
    subjects = Subjects(settings.name_prefix)
    try:
        info = await js.consumer_info(subjects.stream, subjects.notifier_durable)
    except NotFoundError:
        return False
    return bool(info.delivered.stream_seq) and not info.num_pending and not info.num_ack_pending
