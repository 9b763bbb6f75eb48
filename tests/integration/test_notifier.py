"""The notifier on real NATS JetStream and PostgreSQL: what matches, only after the
persister's commit, exactly once per (search, contract), and never from a replay."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys

import orjson
from nats.js.errors import NotFoundError

from common.messages import ContractWithItems
from common.settings import HangarSettings
from services.notifier.commits import APPLICATION_NAME as COMMITS_APPLICATION_NAME
from services.rebuild.replay import replay
from tests.support import factories as f
from tests.support.accounts import fetch, new_account
from tests.support.notifier import (
    alert_pairs,
    eventually,
    notifier_drained,
    notifier_settings,
    persist,
    running_notifier,
    save_search,
)
from tests.support.stream import jetstream, publish


def _contract(contract_id: int, *, items: int = 2, **overrides: object) -> ContractWithItems:
    return f.contract(contract_id, items=items).model_copy(update=overrides)


async def test_each_filter_matches_as_the_contracts_list_does(settings: HangarSettings) -> None:
    account, _ = await new_account(settings.database_url, "trader")
    url = settings.database_url
    searches = {
        "type 35 under 2M": await save_search(
            url, account, {"name": "a", "filters": {"contains_type_id": [35], "max_price": 2e6}}
        ),
        "type 99": await save_search(
            url, account, {"name": "b", "filters": {"contains_type_id": [99]}}
        ),
        "couriers": await save_search(
            url, account, {"name": "c", "filters": {"type": ["courier"]}}
        ),
        "titled": await save_search(url, account, {"name": "d", "filters": {"title": "RAVEN"}}),
        "other region": await save_search(
            url, account, {"name": "e", "filters": {"region_id": [10000043]}}
        ),
        "issuer": await save_search(
            url, account, {"name": "f", "filters": {"issuer_id": 90000001, "min_volume": 10}}
        ),
    }
    contracts = [
        _contract(1, price=1e6),  # items of types 34 and 35
        _contract(2, price=3e6),
        _contract(3, type="courier", items=0, price=0.0, reward=1e6),
        _contract(4, title="fitted raven", price=5e6),
    ]
    async with jetstream(settings) as (_, js):
        await publish(js, settings, f.batch(contracts))
        await persist(settings)
        async with running_notifier(notifier_settings(settings)):
            await eventually(lambda: notifier_drained(js, settings), what="the consumer drained")
    by_search = {
        name: sorted(c for s, c in await alert_pairs(url) if s == search_id)
        for name, search_id in searches.items()
    }
    assert by_search == {
        "type 35 under 2M": [1],
        "type 99": [],
        "couriers": [3],
        "titled": [4],
        "other region": [],
        "issuer": [1, 2, 3, 4],
    }


async def _has_alerts(database_url: str, count: int) -> bool:
    return len(await alert_pairs(database_url)) >= count


async def test_nothing_is_alerted_before_the_persister_commits(settings: HangarSettings) -> None:
    account, _ = await new_account(settings.database_url, "trader")
    await save_search(settings.database_url, account, {"name": "all", "filters": {}})
    async with jetstream(settings) as (_, js):
        await publish(js, settings, f.batch([_contract(1), _contract(2)]))
        async with running_notifier(notifier_settings(settings, visibility_hold_seconds=0.2)):
            # the notifier has handled the batch, twice (handed back while the rows are missing)
            await eventually(
                lambda: _delivered_to_notifier(js, settings, times=3),
                what="the batch handed back twice by the notifier",
            )
            assert await alert_pairs(settings.database_url) == []
            await persist(settings)
            await eventually(lambda: _has_alerts(settings.database_url, 2), what="alerts")
    assert [c for _, c in await alert_pairs(settings.database_url)] == [1, 2]


async def test_a_held_batch_is_matched_on_the_persisters_commit_notification(
    settings: HangarSettings,
) -> None:
    """Without the notification the batch would next be looked at after 600 s."""
    account, _ = await new_account(settings.database_url, "trader")
    await save_search(settings.database_url, account, {"name": "all", "filters": {}})
    waiting = notifier_settings(
        settings, visibility_retry_seconds=600, visibility_hold_seconds=1200, ack_wait_seconds=1800
    )
    async with jetstream(settings) as (_, js):
        await publish(js, settings, f.batch([_contract(1), _contract(2)]))
        async with running_notifier(waiting):
            await eventually(
                lambda: _delivered_to_notifier(js, settings), what="the batch held by the notifier"
            )
            await asyncio.sleep(0.3)  # looked at once, then waiting
            assert await alert_pairs(settings.database_url) == []
            await persist(settings)
            await eventually(lambda: _has_alerts(settings.database_url, 2), what="alerts")
    assert [c for _, c in await alert_pairs(settings.database_url)] == [1, 2]


async def test_a_lost_commit_listener_is_replaced_and_batches_still_match(
    settings: HangarSettings,
) -> None:
    account, _ = await new_account(settings.database_url, "trader")
    await save_search(settings.database_url, account, {"name": "all", "filters": {}})
    async with jetstream(settings) as (_, js), running_notifier(notifier_settings(settings)):
        await eventually(lambda: _listeners(settings.database_url, 1), what="the listener")
        await fetch(
            settings.database_url,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
            COMMITS_APPLICATION_NAME,
        )
        await publish(js, settings, f.batch([_contract(1)]))
        await eventually(lambda: _delivered_to_notifier(js, settings), what="the batch held")
        await persist(settings)  # its notification is not heard: the wait's timeout finds it
        await eventually(lambda: _has_alerts(settings.database_url, 1), what="alerts")
        await eventually(lambda: _listeners(settings.database_url, 1), what="a new listener")


async def _listeners(database_url: str, count: int) -> bool:
    rows = await fetch(
        database_url,
        "SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1",
        COMMITS_APPLICATION_NAME,
    )
    return bool(rows[0]["n"] == count)


async def test_an_invalid_batch_is_settled_without_waiting_for_the_persister(
    settings: HangarSettings,
) -> None:
    """A batch that reads like contracts but does not validate is acked at once: the persister
    dead-letters it, its contracts will never be committed."""
    account, _ = await new_account(settings.database_url, "trader")
    await save_search(settings.database_url, account, {"name": "all", "filters": {}})
    body = orjson.loads(f.batch([_contract(1)]).to_json())
    body["contracts"][0]["date_issued"] = "not a date"
    waiting = notifier_settings(
        settings, visibility_retry_seconds=600, visibility_hold_seconds=1200, ack_wait_seconds=1800
    )
    async with jetstream(settings) as (_, js):
        subject = f"{settings.name_prefix}.events.contracts.10000002"
        await js.publish(f"{subject}.invalid", orjson.dumps(body))
        await js.publish(f"{subject}.garbage", b"not json")
        async with running_notifier(waiting):
            await eventually(lambda: notifier_drained(js, settings), what="the consumer drained")
    assert await alert_pairs(settings.database_url) == []


async def test_a_republished_page_alerts_only_its_new_contracts(settings: HangarSettings) -> None:
    """A contract published again in a later batch (a fetcher that lost track of what it
    published): a search saved in between is alerted of the batch's new contract only, not of
    the one an earlier batch brought."""
    account, _ = await new_account(settings.database_url, "trader")
    early = await save_search(settings.database_url, account, {"name": "early", "filters": {}})
    async with jetstream(settings) as (_, js):
        await publish(js, settings, f.batch([_contract(1)], gen=0))
        await persist(settings)
        async with running_notifier(notifier_settings(settings)):
            await eventually(lambda: notifier_drained(js, settings), what="the consumer drained")
        late = await save_search(settings.database_url, account, {"name": "late", "filters": {}})
        await publish(js, settings, f.batch([_contract(1), _contract(2)], gen=1))
        await persist(settings)
        async with running_notifier(notifier_settings(settings)):
            await eventually(lambda: _has_alerts(settings.database_url, 3), what="alerts")
            await eventually(lambda: notifier_drained(js, settings), what="the consumer drained")
    assert await alert_pairs(settings.database_url) == [(early, 1), (early, 2), (late, 2)]


async def _delivered_to_notifier(js: object, settings: HangarSettings, times: int = 1) -> bool:
    from nats.js import JetStreamContext  # noqa: PLC0415

    from common.subjects import Subjects  # noqa: PLC0415

    assert isinstance(js, JetStreamContext)
    subjects = Subjects(settings.name_prefix)
    try:
        info = await js.consumer_info(subjects.stream, subjects.notifier_durable)
    except NotFoundError:
        return False
    return bool(info.delivered.consumer_seq >= times)


async def test_redeliveries_restarts_and_two_replicas_give_one_alert_per_pair(
    settings: HangarSettings,
) -> None:
    account, _ = await new_account(settings.database_url, "trader")
    url = settings.database_url
    everything = await save_search(url, account, {"name": "all", "filters": {}})
    cheap = await save_search(url, account, {"name": "cheap", "filters": {"max_price": 2e6}})
    first = f.batch([_contract(n, price=n * 1e6) for n in range(1, 6)])
    second = f.batch([_contract(n, price=n * 1e6) for n in range(6, 9)], page=2)
    async with jetstream(settings) as (_, js):
        await publish(js, settings, first)
        await persist(settings)
        async with running_notifier(notifier_settings(settings)):
            await eventually(lambda: _has_alerts(url, 7), what="first alerts")
        # the same batch again, as a fetcher that lost its state would publish it, and a
        # restarted notifier; then two replicas on the one durable consumer
        await js.publish(f"{settings.name_prefix}.events.contracts.10000002.again", first.to_json())
        await publish(js, settings, second)
        await persist(settings)
        async with (
            running_notifier(notifier_settings(settings)),
            running_notifier(notifier_settings(settings)),
        ):
            await eventually(lambda: _has_alerts(url, 10), what="second alerts")
            await eventually(lambda: notifier_drained(js, settings), what="the consumer drained")
    expected = [(everything, n) for n in range(1, 9)] + [(cheap, 1), (cheap, 2)]
    assert await alert_pairs(url) == sorted(expected)


async def test_contracts_received_before_a_search_was_saved_do_not_alert_it(
    settings: HangarSettings,
) -> None:
    account, _ = await new_account(settings.database_url, "trader")
    async with jetstream(settings) as (_, js):
        await publish(js, settings, f.batch([_contract(1)]))
        await persist(settings)
        await asyncio.sleep(0.05)
        late = await save_search(settings.database_url, account, {"name": "late", "filters": {}})
        await publish(js, settings, f.batch([_contract(2)], page=2))
        await persist(settings)
        async with running_notifier(notifier_settings(settings)):
            await eventually(lambda: notifier_drained(js, settings), what="the consumer drained")
    assert await alert_pairs(settings.database_url) == [(late, 2)]


async def test_a_replay_into_another_database_alerts_no_one(
    settings: HangarSettings, empty_database_url: str
) -> None:
    account, _ = await new_account(settings.database_url, "trader")
    await save_search(settings.database_url, account, {"name": "all", "filters": {}})
    async with jetstream(settings) as (_, js):
        await publish(js, settings, f.batch([_contract(1), _contract(2)]))
        await persist(settings)
        async with running_notifier(notifier_settings(settings)):
            await eventually(lambda: _has_alerts(settings.database_url, 2), what="alerts")
            before = await fetch(settings.database_url, "SELECT * FROM alerts ORDER BY 1")
            report = await replay(settings, empty_database_url)
            # the notifier has settled everything on the stream: nothing more can alert
            await eventually(lambda: notifier_drained(js, settings), what="the consumer drained")
            after = await fetch(settings.database_url, "SELECT * FROM alerts ORDER BY 1")
    assert report.contracts == 2
    assert [dict(r) for r in after] == [dict(r) for r in before]
    replayed = await fetch(empty_database_url, "SELECT count(*) AS n FROM contracts")
    assert replayed[0]["n"] == 2
    assert (await fetch(empty_database_url, "SELECT count(*) AS n FROM alerts"))[0]["n"] == 0


async def test_alerts_over_the_hourly_cap_are_kept_but_not_pushed(
    settings: HangarSettings,
) -> None:
    account, _ = await new_account(settings.database_url, "trader")
    await save_search(
        settings.database_url,
        account,
        {
            "name": "capped",
            "filters": {},
            "webhook_url": "https://hooks.example.com/x",
            "max_alerts_per_hour": 2,
        },
    )
    async with jetstream(settings) as (_, js):
        await publish(js, settings, f.batch([_contract(n) for n in range(1, 6)]))
        await persist(settings)
        async with running_notifier(notifier_settings(settings, webhook_poll_seconds=60)):
            await eventually(lambda: notifier_drained(js, settings), what="the consumer drained")
    rows = await fetch(
        settings.database_url,
        "SELECT a.contract_id, a.throttled, d.alert_id IS NOT NULL AS queued"
        " FROM alerts a LEFT JOIN webhook_deliveries d USING (alert_id) ORDER BY 1",
    )
    assert [(r["contract_id"], r["throttled"], r["queued"]) for r in rows] == [
        (1, False, True),
        (2, False, True),
        (3, True, False),
        (4, True, False),
        (5, True, False),
    ]


async def test_a_sigkilled_notifier_restarted_gives_one_alert_per_pair(
    settings: HangarSettings,
) -> None:
    account, _ = await new_account(settings.database_url, "trader")
    url = settings.database_url
    search = await save_search(url, account, {"name": "all", "filters": {}})
    batches = [
        f.batch([_contract(page * 100 + n, items=1) for n in range(100)], page=page)
        for page in range(1, 31)
    ]
    env = {
        **os.environ,
        "HANGAR_DATABASE_URL": url,
        "HANGAR_NATS_URL": settings.nats_url,
        "HANGAR_REDIS_URL": settings.redis_url,
        "HANGAR_NAME_PREFIX": settings.name_prefix,
        "HANGAR_ACK_WAIT_SECONDS": "2",
        "HANGAR_FETCH_BATCH": "1",
        "HANGAR_LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "-m", "services.cli", "notifier"]
    async with jetstream(settings) as (_, js):
        await publish(js, settings, *batches)
        await persist(settings)
        first = subprocess.Popen(command, env=env)
        try:
            await eventually(lambda: _has_alerts(url, 1), what="the first alerts")
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait()
        killed_with = len(await alert_pairs(url))
        second = subprocess.Popen(command, env=env)
        try:
            await eventually(lambda: notifier_drained(js, settings), what="the consumer drained")
        finally:
            second.terminate()
            second.wait()
    pairs = await alert_pairs(url)
    assert killed_with < 3000, "the first notifier finished before it was killed"
    assert pairs == [(search, b.contracts[0].contract_id + n) for b in batches for n in range(100)]
