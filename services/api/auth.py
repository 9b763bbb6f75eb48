"""``Authorization: Bearer <key>`` on the account routes, and each key's rate limit.

The rate limit is a fixed window per key and minute in Redis (``INCR`` + ``EXPIRE``). When
Redis does not answer, requests pass (logged): the limit protects the service, the key has
already been checked against the database.
"""

from __future__ import annotations

import time
from typing import Annotated

import structlog
from fastapi import Depends, Request
from redis.exceptions import RedisError
from starlette.exceptions import HTTPException

from services.api.account_state import AccountState, AccountStateDep
from services.api.account_store import account_of_key
from services.api.errors import ApiError

log = structlog.get_logger(__name__)

WINDOW_S = 60


class UnauthorizedError(ApiError):
    def __init__(self, message: str) -> None:
        super().__init__(401, "unauthorized", message)


async def _within_rate_limit(state: AccountState, key_id: str) -> int | None:
    """``None`` when the request may proceed, else the seconds until the next window."""
    now = time.time()
    window = int(now // WINDOW_S)
    redis_key = f"{state.settings.name_prefix}:ratelimit:{key_id}:{window}"
    try:
        async with state.redis.pipeline(transaction=True) as pipe:
            pipe.incr(redis_key)
            pipe.expire(redis_key, WINDOW_S * 2)
            count, _ = await pipe.execute()
    except (RedisError, OSError) as error:
        log.warning("rate limit unavailable", error=repr(error))
        return None
    if int(count) > state.settings.api_key_requests_per_minute:
        return max(1, int((window + 1) * WINDOW_S - now) + 1)
    return None


async def current_account(request: Request, state: AccountStateDep) -> int:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise UnauthorizedError("send Authorization: Bearer <API key>")
    async with state.pool.acquire() as connection:
        found = await account_of_key(connection, token.strip())
    if found is None:
        raise UnauthorizedError("unknown or revoked API key")
    account_id, key_id = found
    retry_after = await _within_rate_limit(state, key_id)
    if retry_after is not None:
        raise HTTPException(
            429,
            f"more than {state.settings.api_key_requests_per_minute} requests a minute",
            headers={"Retry-After": str(retry_after)},
        )
    return account_id


AccountDep = Annotated[int, Depends(current_account)]
