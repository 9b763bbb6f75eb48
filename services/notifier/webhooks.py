"""Webhook delivery: due calls are claimed from ``webhook_deliveries`` (``SKIP LOCKED``, so
several notifiers share the work), sent to a checked address, and recorded as delivered, or
retried with exponential backoff until ``webhook_give_up_seconds`` have passed, then failed
(the owner sees it in the alert and the search).

A call is claimed by pushing its next attempt past the time a call can take: a notifier that
dies mid-call leaves it to be retried, never lost. Webhooks are at least once; receivers
deduplicate on ``alert_id``.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import orjson

from common.webhook_guard import UnsafeWebhookTargetError, resolve_target
from services.notifier.matching import DbConnection
from services.notifier.settings import NotifierSettings
from services.notifier.webhook_payloads import SIGNATURE_HEADER, signature, webhook_body

log = logging.getLogger(__name__)

USER_AGENT = "HangarBay-Webhooks/1.0"

_CLAIM = """
UPDATE webhook_deliveries d
SET attempts = d.attempts + 1, next_attempt_at = now() + make_interval(secs => $2)
WHERE d.alert_id IN (
    SELECT alert_id FROM webhook_deliveries
    WHERE status = 'pending' AND next_attempt_at <= now()
    ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED
)
RETURNING d.alert_id, d.url, d.attempts,
    extract(epoch FROM now() - d.created_at)::float8 AS age_seconds
"""

_ALERTS = """
SELECT a.alert_id, a.search_id, s.name AS search_name, s.webhook_secret, a.contract_id,
       to_char(a.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS created_at,
       CASE WHEN c.contract_id IS NOT NULL THEN json_build_object(
           'contract_id', c.contract_id, 'region_id', c.region_id, 'type', c.type,
           'status', c.status, 'title', c.title, 'price', c.price::text,
           'reward', c.reward::text, 'collateral', c.collateral::text,
           'buyout', c.buyout::text, 'volume', c.volume,
           'start_location_id', c.start_location_id, 'end_location_id', c.end_location_id,
           'issuer_id', c.issuer_id, 'issuer_corporation_id', c.issuer_corporation_id,
           'date_issued', to_char(c.date_issued AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
           'date_expired', to_char(c.date_expired AT TIME ZONE 'UTC',
                                   'YYYY-MM-DD"T"HH24:MI:SS"Z"'))::text END AS contract
FROM alerts a
JOIN saved_searches s ON s.search_id = a.search_id
LEFT JOIN contracts c ON c.contract_id = a.contract_id
WHERE a.alert_id = ANY($1::bigint[])
"""


@dataclass(frozen=True)
class Attempt:
    alert_id: int
    delivered: bool
    error: str | None
    give_up: bool


def http_client(settings: NotifierSettings) -> httpx.AsyncClient:
    context = ssl.create_default_context()
    if settings.webhook_ca_file:
        context.load_verify_locations(settings.webhook_ca_file)
    return httpx.AsyncClient(
        verify=context,
        follow_redirects=False,
        trust_env=False,
        timeout=httpx.Timeout(settings.webhook_timeout_seconds),
        # every call connects to the address it checked, with its own SNI: no reuse
        limits=httpx.Limits(
            max_connections=settings.webhook_concurrency, max_keepalive_connections=0
        ),
        headers={"User-Agent": USER_AGENT},
    )


def retry_delay(settings: NotifierSettings, attempts: int) -> float:
    delay: float = settings.webhook_first_retry_seconds * 2.0 ** max(0, attempts - 1)
    return min(settings.webhook_max_retry_seconds, delay)


async def send(
    client: httpx.AsyncClient, settings: NotifierSettings, url: str, body: bytes, secret: str
) -> str | None:
    """Call the webhook once; ``None`` when it answered 2xx, else why not."""
    try:
        target = await resolve_target(url, allow_private=settings.webhook_allow_private_targets)
    except UnsafeWebhookTargetError as error:
        return f"refused target: {error}"
    request = client.build_request(
        "POST",
        target.url,
        content=body,
        headers={
            "Host": target.host_header,
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature(secret, body),
        },
        extensions={"sni_hostname": target.host},
    )
    try:
        response = await client.send(request, stream=True)
        try:
            received = 0
            async for chunk in response.aiter_raw():
                received += len(chunk)
                if received >= settings.webhook_max_response_bytes:
                    break
        finally:
            await response.aclose()
    except httpx.HTTPError as error:
        return f"{type(error).__name__}: {error}"[:500]
    if response.is_redirect:
        return f"HTTP {response.status_code}: redirects are not followed"
    if not response.is_success:
        return f"HTTP {response.status_code}"
    return None


async def deliver_due(
    pool: asyncpg.Pool, client: httpx.AsyncClient, settings: NotifierSettings, limit: int = 100
) -> int:
    """Claim and send every due call (at most ``limit``); returns how many were attempted."""
    lease = settings.webhook_timeout_seconds * 4 + 30
    async with pool.acquire() as connection:
        claimed = await connection.fetch(_CLAIM, limit, lease)
        if not claimed:
            return 0
        rows = await connection.fetch(_ALERTS, [row["alert_id"] for row in claimed])
    alerts = {row["alert_id"]: row for row in rows}
    semaphore = asyncio.Semaphore(settings.webhook_concurrency)

    async def attempt(claim: asyncpg.Record) -> Attempt:
        found = alerts.get(claim["alert_id"])
        give_up = claim["age_seconds"] >= settings.webhook_give_up_seconds
        if found is None:  # deleted with its search meanwhile
            return Attempt(claim["alert_id"], False, "alert deleted", True)
        alert: dict[str, Any] = dict(found)
        if alert["contract"] is not None:
            alert["contract"] = orjson.loads(alert["contract"])
        body = webhook_body(claim["url"], alert, settings.public_base_url)
        async with semaphore:
            error = await send(client, settings, claim["url"], body, alert["webhook_secret"] or "")
        return Attempt(claim["alert_id"], error is None, error, give_up)

    attempts = await asyncio.gather(*(attempt(claim) for claim in claimed))
    attempts_by_id = {claim["alert_id"]: claim["attempts"] for claim in claimed}
    async with pool.acquire() as connection:
        await record(connection, settings, attempts, attempts_by_id)
    return len(attempts)


async def record(
    connection: DbConnection,
    settings: NotifierSettings,
    attempts: list[Attempt],
    attempts_by_id: dict[int, int],
) -> None:
    await connection.executemany(
        "UPDATE webhook_deliveries SET"
        " status = CASE WHEN $2 THEN 'delivered' WHEN $4 THEN 'failed' ELSE 'pending' END,"
        " last_error = $3,"
        " finished_at = CASE WHEN $2 OR $4 THEN now() END,"
        " next_attempt_at = now() + make_interval(secs => $5)"
        " WHERE alert_id = $1 AND status = 'pending'",
        [
            (
                a.alert_id,
                a.delivered,
                a.error,
                a.give_up and not a.delivered,
                retry_delay(settings, attempts_by_id[a.alert_id]),
            )
            for a in attempts
        ],
    )
    for a in attempts:
        if a.delivered:
            log.info("webhook delivered", extra={"alert_id": a.alert_id})
        else:
            log.warning(
                "webhook failed" if a.give_up else "webhook will be retried",
                extra={"alert_id": a.alert_id, "error": a.error},
            )
