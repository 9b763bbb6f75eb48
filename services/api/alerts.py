"""``/v1/alerts``: stored alerts in cursor pages, marking them read, and the live feed
(server-sent events, resumable with ``Last-Event-ID``, with heartbeats)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import asyncpg
import orjson
from fastapi import APIRouter, Header, Query
from fastapi.responses import StreamingResponse

from common.event_wait import event_set_within
from services.api.account_state import AccountState, AccountStateDep
from services.api.alert_store import (
    alert_json,
    alerts_after,
    list_alerts,
    mark_read,
    newest_alert_id,
    unread_count,
)
from services.api.auth import AccountDep
from services.api.errors import ApiError
from services.api.limited_body import LimitedBodyRoute
from services.api.schemas import MAX_ID, ErrorDetail, ErrorResponse
from services.api.search_schemas import AlertPage, MarkRead, MarkReadResult

router = APIRouter(prefix="/v1/alerts", tags=["alerts"], route_class=LimitedBodyRoute)

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "The body is not readable as JSON text."},
    401: {"model": ErrorResponse, "description": "No, unknown or revoked API key."},
    422: {"model": ErrorResponse, "description": "Invalid parameters."},
    429: {"model": ErrorResponse, "description": "The key's rate limit is exceeded."},
}
CATCH_UP_ROWS = 200


def _cursor_value(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    if not cursor.startswith("a") or not cursor[1:].isdigit() or int(cursor[1:]) > MAX_ID:
        message = "not a cursor of this list"
        raise ApiError(
            422,
            "invalid_cursor",
            message,
            [ErrorDetail(location=["query", "cursor"], message=message, type="invalid_cursor")],
        )
    return int(cursor[1:])


@router.get("", response_model=AlertPage, responses=_ERRORS)
async def list_page(
    account: AccountDep,
    state: AccountStateDep,
    unread: Annotated[bool, Query(description="Only alerts not marked read.")] = False,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=32)] = None,
) -> Any:
    """The account's alerts, newest first; pass `next_cursor` back as `cursor`. Each carries
    its contract's summary and, for a search with a webhook, the delivery's status (`failed`
    once retries are given up)."""
    before = _cursor_value(cursor)
    async with state.pool.acquire() as connection:
        rows = await list_alerts(
            connection, account, before=before, unread_only=unread, limit=limit + 1
        )
        unread_alerts = await unread_count(connection, account)
    items = [alert_json(row) for row in rows[:limit]]
    next_cursor = f"a{items[-1]['alert_id']}" if len(rows) > limit else None
    return {"items": items, "next_cursor": next_cursor, "unread": unread_alerts}


@router.post("/read", response_model=MarkReadResult, responses=_ERRORS)
async def read(body: MarkRead, account: AccountDep, state: AccountStateDep) -> Any:
    """Mark alerts read: the listed ids, and/or every alert up to an id."""
    async with state.pool.acquire() as connection:
        marked = await mark_read(connection, account, body.alert_ids, body.up_to)
    return {"marked": marked}


@router.get(
    "/stream",
    responses={
        **_ERRORS,
        200: {
            "description": "Server-sent events: `event: alert` with the alert as JSON data and "
            "its id as event id; comment lines as heartbeats.",
            "content": {"text/event-stream": {}},
        },
    },
)
async def stream(
    account: AccountDep,
    state: AccountStateDep,
    last_event_id: Annotated[
        str | None,
        Header(
            pattern=r"^[0-9]{1,18}$",
            description="Resume after this alert id (sent by EventSource on reconnect).",
        ),
    ] = None,
) -> StreamingResponse:
    """New alerts of the account as they are committed (throttled ones excepted); with
    `Last-Event-ID` first every alert after that id."""
    after: int | None = None
    if last_event_id is not None:
        after = int(last_event_id)
    if after is None:
        async with state.pool.acquire() as connection:
            after = await newest_alert_id(connection, account)
    return StreamingResponse(
        _events(state, account, after),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def _event(row: asyncpg.Record) -> bytes:
    data = orjson.dumps(alert_json(row))
    return b"id: %d\nevent: alert\ndata: %s\n\n" % (row["alert_id"], data)


async def _events(state: AccountState, account: int, after: int) -> AsyncIterator[bytes]:
    heartbeat = state.settings.alert_stream_heartbeat_s
    yield f"retry: {int(heartbeat * 1000)}\n: connected\n\n".encode()
    with state.feed.subscribe(account) as woken:
        while True:
            woken.clear()
            async with state.pool.acquire() as connection:
                rows = await alerts_after(connection, account, after, CATCH_UP_ROWS)
            if rows:
                after = rows[-1]["alert_id"]
                # one write for what was read: a burst is thousands of events
                yield b"".join(_event(row) for row in rows)
            if len(rows) == CATCH_UP_ROWS:
                continue
            if await event_set_within(woken, heartbeat):
                continue
            yield b": heartbeat\n\n"
