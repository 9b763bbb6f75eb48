"""Alerts delivered: a contract published to the stream and applied by the persister reaches
a server-sent events client and a webhook receiver; stored alerts page and are marked read;
webhooks are signed, never follow redirects, and end failed (visible to the owner)."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import Any

import httpx
import orjson

from common.settings import HangarSettings
from services.api.app import create_app
from services.stack.servers import free_port
from tests.support import factories as f
from tests.support.accounts import account_api_settings, bearer, client_of, new_account
from tests.support.live_feed import listening
from tests.support.notifier import eventually, notifier_settings, persist, running_notifier
from tests.support.receiver import serving, webhook_receiver
from tests.support.stream import jetstream, publish


async def _any(items: list[Any]) -> bool:
    return bool(items)


async def test_a_published_contract_reaches_the_live_feed_and_the_webhook(
    settings: HangarSettings, tmp_path: Path
) -> None:
    _, key = await new_account(settings.database_url, "trader")
    api_port = free_port()
    api = create_app(account_api_settings(settings, alert_stream_heartbeat_s=0.5))
    async with (
        webhook_receiver(tmp_path) as (receiver, cert),
        serving(api, api_port),
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{api_port}", timeout=30) as client,
        jetstream(settings) as (_, js),
    ):
        created = await client.post(
            "/v1/searches",
            json={
                "name": "cheap",
                "filters": {"contains_type_id": [35], "max_price": 2e6},
                "webhook_url": receiver.url("/hook"),
            },
            headers=bearer(key),
        )
        assert created.status_code == 201, created.text
        secret = created.json()["webhook_secret"]
        notifier = notifier_settings(
            settings,
            webhook_allow_private_targets=True,
            webhook_ca_file=str(cert),
            public_base_url="https://hangar.example",
        )
        async with listening(client, key) as live, running_notifier(notifier):
            await publish(
                js, settings, f.batch([f.contract(7, price=1e6), f.contract(8, price=5e6)])
            )
            await persist(settings)
            await eventually(lambda: _any(live.alerts()), what="the alert on the live feed")
            await eventually(lambda: _any(receiver.requests), what="the webhook call")
            await eventually(lambda: _any(live.comments("heartbeat")), what="a heartbeat")
        (event,) = live.alerts()
        assert event.data is not None
        assert event.event_id is not None
        assert event.data["contract_id"] == 7
        assert event.data["contract"]["price"] == "1000000.00"

        (call,) = receiver.requests
        assert call.headers["content-type"] == "application/json"
        expected = hmac.new(secret.encode(), call.body, hashlib.sha256).hexdigest()
        assert call.headers["x-hangar-signature"] == f"sha256={expected}"
        body = orjson.loads(call.body)
        assert body["contract"]["contract_id"] == 7
        assert body["link"] == "https://hangar.example/v1/contracts/7"

        # resumable: from an earlier id, the feed first sends what came after it
        async with listening(client, key, last_event_id="0") as resumed:
            await eventually(lambda: _any(resumed.alerts()), what="the replayed alert")
        assert [e.event_id for e in resumed.alerts()] == [event.event_id]

        page = (await client.get("/v1/alerts", headers=bearer(key))).json()
        assert page["unread"] == 1
        assert page["items"][0]["webhook"]["status"] == "delivered"
        marked = await client.post(
            "/v1/alerts/read", json={"alert_ids": [int(event.event_id)]}, headers=bearer(key)
        )
        assert marked.json() == {"marked": 1}
        unread = (await client.get("/v1/alerts?unread=true", headers=bearer(key))).json()
        assert (unread["items"], unread["unread"]) == ([], 0)


async def test_redirects_are_not_followed_and_failures_are_shown_to_the_owner(
    settings: HangarSettings, tmp_path: Path
) -> None:
    _, key = await new_account(settings.database_url, "trader")
    api_settings = account_api_settings(settings)
    async with (
        webhook_receiver(tmp_path) as (receiver, cert),
        client_of(api_settings) as client,
        jetstream(settings) as (_, js),
    ):
        searches = [
            await client.post(
                "/v1/searches",
                json={"name": name, "filters": {}, "webhook_url": receiver.url(path)},
                headers=bearer(key),
            )
            for name, path in (("redirected", "/redirect"), ("direct", "/hook"))
        ]
        assert [s.status_code for s in searches] == [201, 201]
        await publish(js, settings, f.batch([f.contract(1)]))
        await persist(settings)
        # private targets allowed (the receiver is local): /hook is delivered, /redirect
        # answers 302 to a metadata address, which is not followed, until given up
        notifier = notifier_settings(
            settings,
            webhook_allow_private_targets=True,
            webhook_ca_file=str(cert),
            webhook_first_retry_seconds=0.2,
            webhook_give_up_seconds=1.0,
        )
        async with running_notifier(notifier):
            await eventually(lambda: _webhooks_finished(client, key, 1), what="redirect failed")
        page = (await client.get("/v1/alerts", headers=bearer(key))).json()
        redirected = next(a for a in page["items"] if a["search_name"] == "redirected")
        assert redirected["webhook"]["status"] == "failed"
        assert "redirects are not followed" in redirected["webhook"]["last_error"]
        assert redirected["webhook"]["attempts"] >= 2
        assert {r.path for r in receiver.requests} <= {"/redirect", "/hook"}
        listed = (await client.get("/v1/searches", headers=bearer(key))).json()["items"]
        assert next(s for s in listed if s["name"] == "redirected")["failed_webhooks"] == 1

        direct = next(a for a in page["items"] if a["search_name"] == "direct")
        assert direct["webhook"]["status"] == "delivered"

        # without private targets, the same calls are refused before any connection
        hook_calls = len([r for r in receiver.requests if r.path == "/hook"])
        await _reset_webhooks(settings.database_url)
        strict = notifier_settings(
            settings, webhook_ca_file=str(cert), webhook_give_up_seconds=0.01
        )
        async with running_notifier(strict):
            await eventually(lambda: _webhooks_finished(client, key, 2), what="both refused")
        page = (await client.get("/v1/alerts", headers=bearer(key))).json()
        for alert in page["items"]:
            assert alert["webhook"]["status"] == "failed"
            assert alert["webhook"]["last_error"].startswith("refused target: localhost")
        assert len([r for r in receiver.requests if r.path == "/hook"]) == hook_calls


async def _webhooks_finished(client: httpx.AsyncClient, key: str, failed: int) -> bool:
    page = (await client.get("/v1/alerts", headers=bearer(key))).json()
    return sum(1 for a in page["items"] if (a["webhook"] or {}).get("status") == "failed") >= failed


async def _reset_webhooks(database_url: str) -> None:
    from tests.support.accounts import fetch  # noqa: PLC0415

    await fetch(
        database_url,
        "UPDATE webhook_deliveries SET status = 'pending', attempts = 0, last_error = NULL,"
        " finished_at = NULL, next_attempt_at = now(), created_at = now()",
    )
