"""A trader's alert, end to end on real processes and servers: the ESI simulator issues a
contract, ``hangar-bay fetcher --once`` publishes it, a ``hangar-bay persister`` process commits
it, a ``hangar-bay notifier`` process matches it against searches saved before the sweep, and
the alert reaches a live-feed client of the API (over HTTP) and an HTTPS webhook receiver the
test runs. After two sweeps every (search, contract) has exactly one alert, in the store, on
the live feed and at the webhook.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from nats.js import JetStreamContext

from common.settings import HangarSettings
from common.subjects import Subjects
from services.api.app import create_app
from services.stack.servers import free_port
from tests.support.accounts import account_api_settings, bearer, new_account
from tests.support.live_feed import LiveFeed, listening
from tests.support.notifier import eventually
from tests.support.pipeline import (
    Service,
    advance_simulator,
    pipeline_environment,
    run_once,
    running,
    simulator,
    simulator_rows,
)
from tests.support.receiver import Receiver, serving, webhook_receiver
from tests.support.stream import consumer_settled, jetstream

pytestmark = pytest.mark.e2e

REGION = 10000002
PUBLIC_BASE_URL = "https://hangar.example"
Pair = tuple[int, int]


@pytest.fixture
def esi() -> Iterator[str]:
    # One region on one page; each generation replaces exactly one contract by a new one.
    with simulator(
        "--regions", f"{REGION}:150", "--churn", "1", "--no-auto-advance",
        "--big-contracts", "0", "--seed", "23",
    ) as url:  # fmt: skip
        yield url


def _esi_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def _save(client: httpx.AsyncClient, key: str, body: dict[str, Any]) -> dict[str, Any]:
    created = await client.post("/v1/searches", json=body, headers=bearer(key))
    assert created.status_code == 201, created.text
    saved: dict[str, Any] = created.json()
    return saved


def _feed_pairs(feed: LiveFeed) -> list[Pair]:
    return sorted(
        (event.data["search_id"], event.data["contract_id"])
        for event in feed.alerts()
        if event.data is not None
    )


async def _stored_alerts(client: httpx.AsyncClient, key: str) -> list[dict[str, Any]]:
    alerts: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 200}
    while True:
        page = (await client.get("/v1/alerts", params=params, headers=bearer(key))).json()
        alerts += page["items"]
        if not page["next_cursor"]:
            return alerts
        params["cursor"] = page["next_cursor"]


# Three processes started and two sweeps of 150 contracts under a shared machine's load.
@pytest.mark.timeout(300)
async def test_a_contract_the_fetcher_finds_alerts_the_live_feed_and_the_webhook_once(
    settings: HangarSettings, esi: str, tmp_path: Path
) -> None:
    subjects = Subjects(settings.name_prefix)
    _, key = await new_account(settings.database_url, "trader")
    first = simulator_rows(esi)
    # The simulator issues every new contract after the generation it started from began, so
    # this search matches only what the second sweep finds.
    issued_after = max(_esi_time(c["date_issued"]) for c in first.values()) + timedelta(seconds=1)
    env = pipeline_environment(settings, esi, [REGION])
    api_port = free_port()
    api = create_app(
        account_api_settings(
            settings, alert_stream_heartbeat_s=0.5, api_key_requests_per_minute=100_000
        )
    )
    async with (
        webhook_receiver(tmp_path) as (receiver, cert),
        serving(api, api_port),
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{api_port}", timeout=30) as client,
        jetstream(settings) as (_, js),
    ):
        new_listings = await _save(
            client,
            key,
            {
                "name": "new in The Forge",
                "filters": {"region_id": [REGION], "issued_after": issued_after.isoformat()},
                "webhook_url": receiver.url("/hook"),
            },
        )
        couriers = await _save(client, key, {"name": "couriers", "filters": {"type": ["courier"]}})
        notifier_env = {
            **env,
            "HANGAR_WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",  # the receiver is on this machine
            "HANGAR_WEBHOOK_CA_FILE": str(cert),
            "HANGAR_PUBLIC_BASE_URL": PUBLIC_BASE_URL,
            "HANGAR_VISIBILITY_RETRY_SECONDS": "0.2",
            "HANGAR_WEBHOOK_POLL_SECONDS": "0.2",
        }

        with (
            running("notifier", notifier_env, tmp_path) as notifier,
            running("persister", env, tmp_path) as persister,
        ):
            services = (notifier, persister)
            async with listening(client, key) as feed:

                async def feed_has(pairs: set[Pair]) -> bool:
                    for service in services:
                        service.check_alive()
                    return pairs <= set(_feed_pairs(feed))

                first_couriers = {
                    (couriers["search_id"], cid)
                    for cid, c in first.items()
                    if c["type"] == "courier"
                }
                assert first_couriers, "the simulator's seed gives no courier contract"
                await run_once("fetcher", "--once", env=env)
                await eventually(
                    lambda: feed_has(first_couriers),
                    within=120,
                    what="the first sweep's couriers alerted",
                )

                advance_simulator(esi)
                second = simulator_rows(esi)
                (new_id,) = second.keys() - first.keys()
                assert _esi_time(second[new_id]["date_issued"]) >= issued_after
                await run_once("fetcher", "--once", env=env)

                expected = {(new_listings["search_id"], new_id)} | {
                    (couriers["search_id"], cid)
                    for cid, c in (first | second).items()
                    if c["type"] == "courier"
                }
                await eventually(
                    lambda: feed_has(expected), within=120, what="the second sweep alerted"
                )
                await _settled(js, subjects, services)
                # the feed reads the table before each heartbeat's wait: two heartbeats after
                # everything settled, it has read every committed alert
                heartbeats = len(feed.comments("heartbeat"))
                await eventually(
                    lambda: _more(feed.comments("heartbeat"), heartbeats + 1),
                    what="two heartbeats",
                )
            await eventually(
                lambda: _webhook_delivered(client, key, new_id), what="the webhook recorded"
            )

        stored = await _stored_alerts(client, key)

    # exactly one alert per (search, contract): in the store and on the live feed
    assert sorted((a["search_id"], a["contract_id"]) for a in stored) == sorted(expected)
    assert _feed_pairs(feed) == sorted(expected)

    # the live feed names the new contract, as the simulator lists it
    (listed,) = [
        e.data for e in feed.alerts() if e.data and e.data["search_id"] == new_listings["search_id"]
    ]
    contract = listed["contract"]
    assert (contract["contract_id"], contract["region_id"], contract["type"]) == (
        new_id,
        REGION,
        second[new_id]["type"],
    )
    assert Decimal(contract["price"]) == Decimal(str(second[new_id]["price"]))
    assert _esi_time(contract["date_issued"]) == _esi_time(second[new_id]["date_issued"])

    _assert_one_signed_call(receiver, new_listings, new_id)


async def _more(items: list[Any], than: int) -> bool:
    return len(items) > than


async def _settled(js: JetStreamContext, subjects: Subjects, services: tuple[Service, ...]) -> None:
    """Both durable consumers have nothing left to deliver or to ack: no alert is coming."""

    async def settled() -> bool:
        for service in services:
            service.check_alive()
        return await consumer_settled(
            js, subjects.stream, subjects.persister_durable
        ) and await consumer_settled(js, subjects.stream, subjects.notifier_durable)

    await eventually(settled, within=120, what="the persister and the notifier settled")


async def _webhook_delivered(client: httpx.AsyncClient, key: str, contract_id: int) -> bool:
    for alert in await _stored_alerts(client, key):
        if alert["contract_id"] == contract_id and alert["webhook"] is not None:
            return bool(alert["webhook"]["status"] == "delivered")
    return False


def _assert_one_signed_call(receiver: Receiver, search: dict[str, Any], contract_id: int) -> None:
    (call,) = receiver.requests
    assert call.path == "/hook"
    assert call.headers["content-type"] == "application/json"
    signed = hmac.new(search["webhook_secret"].encode(), call.body, hashlib.sha256).hexdigest()
    assert call.headers["x-hangar-signature"] == f"sha256={signed}"
    body = orjson.loads(call.body)
    assert body["event"] == "alert"
    assert body["search"] == {"search_id": search["search_id"], "name": search["name"]}
    assert body["contract"]["contract_id"] == contract_id
    assert body["link"] == f"{PUBLIC_BASE_URL}/v1/contracts/{contract_id}"
