"""HTTP behaviour: caching, validation, health, failure modes, metrics, gzip, CORS, OpenAPI."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from common.db import asyncpg_dsn
from services.api.app import create_app
from services.api.dependencies import ApiState
from services.stack.servers import free_port
from tests.integration.test_api_support import (
    api_client,
    api_settings,
    contract,
    ids,
    item,
    seed,
)
from tests.support.waiting import wait_until

# --- conditional requests -----------------------------------------------------------------


async def test_if_none_match_gives_304_until_the_data_changes(database_url: str) -> None:
    await seed(database_url, [contract(1), contract(2)])
    async with api_client(api_settings(database_url, cache_max_age_s=15)) as client:
        first = await client.get("/v1/contracts")
        etag = first.headers["etag"]
        assert etag.startswith('W/"')
        assert first.headers["cache-control"] == "public, max-age=15, stale-while-revalidate=15"

        unchanged = await client.get("/v1/contracts", headers={"If-None-Match": etag})
        assert unchanged.status_code == 304
        assert unchanged.content == b""
        assert unchanged.headers["etag"] == etag
        assert unchanged.headers["cache-control"] == first.headers["cache-control"]

        in_a_list = await client.get(
            "/v1/contracts", headers={"If-None-Match": f'"other", {etag.removeprefix("W/")}'}
        )
        assert in_a_list.status_code == 304
        other_query = await client.get(
            "/v1/contracts", params={"limit": 1}, headers={"If-None-Match": etag}
        )
        assert other_query.status_code == 200

        await seed(database_url, [contract(3)])
        changed = await client.get("/v1/contracts", headers={"If-None-Match": etag})
        assert changed.status_code == 200
        assert changed.headers["etag"] != etag
        assert [row["contract_id"] for row in changed.json()["items"]] == [3, 2, 1]


@pytest.mark.parametrize("path", ["/v1/contracts/1", "/v1/regions", "/v1/stats"])
async def test_every_data_endpoint_revalidates(database_url: str, path: str) -> None:
    await seed(database_url, [contract(1)], [item(1, 1, 34)])
    async with api_client(api_settings(database_url)) as client:
        first = await client.get(path)
        again = await client.get(path, headers={"If-None-Match": first.headers["etag"]})
        star = await client.get(path, headers={"If-None-Match": "*"})
        stale = await client.get(path, headers={"If-None-Match": 'W/"0123"'})
    assert first.status_code == 200
    assert "max-age=30" in first.headers["cache-control"]
    assert (again.status_code, star.status_code, stale.status_code) == (304, 304, 200)


# --- validation ---------------------------------------------------------------------------

TOO_BIG = 2**63


@pytest.mark.parametrize(
    ("params", "location"),
    [
        ({"limit": 0}, ["query", "limit"]),
        ({"limit": 501}, ["query", "limit"]),
        ({"limit": "many"}, ["query", "limit"]),
        ({"region_id": 0}, ["query", "region_id", 0]),
        ({"region_id": -5}, ["query", "region_id", 0]),
        ({"region_id": TOO_BIG}, ["query", "region_id", 0]),
        ({"region_id": [1, "x"]}, ["query", "region_id", 1]),
        ({"region_id": list(range(1, 102))}, ["query", "region_id"]),
        ({"contains_type_id": list(range(1, 102))}, ["query", "contains_type_id"]),
        ({"type": "Item Exchange"}, ["query", "type", 0]),
        ({"status": "expired"}, ["query", "status"]),
        ({"sort": "title"}, ["query", "sort"]),
        ({"order": "up"}, ["query", "order"]),
        ({"min_price": "-1"}, ["query", "min_price"]),
        ({"max_price": "NaN"}, ["query", "max_price"]),
        ({"min_volume": "inf"}, ["query", "min_volume"]),
        ({"min_price": "10", "max_price": "5"}, ["query"]),
        ({"min_volume": 3, "max_volume": 1}, ["query"]),
        (
            {"issued_after": "2025-02-01T00:00:00Z", "issued_before": "2025-01-01T00:00:00Z"},
            ["query"],
        ),
        ({"expires_after": "yesterday"}, ["query", "expires_after"]),
        ({"issued_after": "1735689600"}, ["query", "issued_after"]),  # Unix time is not ISO
        ({"issued_before": "0001-01-01T00:00:00+01:00"}, ["query", "issued_before"]),
        ({"expires_before": "9999-12-31T23:59:59-01:00"}, ["query", "expires_before"]),
        ({"title": "a\x00b"}, ["query", "title"]),
        ({"issuer_id": TOO_BIG}, ["query", "issuer_id"]),
        ({"start_location_id": 0}, ["query", "start_location_id"]),
        ({"title": ""}, ["query", "title"]),
        ({"title": "x" * 101}, ["query", "title"]),
        ({"cursor": "x" * 1025}, ["query", "cursor"]),
        ({"include_requested": "maybe"}, ["query", "include_requested"]),
        ({"regionid": 10000002}, ["query", "regionid"]),
    ],
)
async def test_invalid_list_parameters_are_422_with_details(
    database_url: str, params: dict[str, Any], location: list[Any]
) -> None:
    async with api_client(api_settings(database_url)) as client:
        response = await client.get("/v1/contracts", params=params)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert location in [detail["location"] for detail in error["details"]]
    assert all("input" not in detail for detail in error["details"])


@pytest.mark.parametrize("contract_id", ["0", "-1", str(2**63), "abc", "1.5"])
async def test_invalid_contract_ids_are_422(database_url: str, contract_id: str) -> None:
    async with api_client(api_settings(database_url)) as client:
        response = await client.get(f"/v1/contracts/{contract_id}")
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["location"] == ["path", "contract_id"]


async def test_the_largest_64_bit_id_is_valid(database_url: str) -> None:
    await seed(database_url, [contract(2**63 - 1, issuer_id=2**63 - 1)])
    async with api_client(api_settings(database_url)) as client:
        by_id = await client.get(f"/v1/contracts/{2**63 - 1}")
        by_issuer = await client.get("/v1/contracts", params={"issuer_id": 2**63 - 1})
    assert by_id.json()["contract_id"] == 2**63 - 1
    assert [row["contract_id"] for row in by_issuer.json()["items"]] == [2**63 - 1]


# --- health and failures ------------------------------------------------------------------


def _dead_database_url() -> str:
    return f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"


async def test_readyz_checks_the_database(database_url: str) -> None:
    async with api_client(api_settings(database_url)) as client:
        ready = await client.get("/readyz")
        alive = await client.get("/healthz")
    assert (ready.status_code, ready.json()) == (200, {"status": "ok"})
    assert (alive.status_code, alive.json()) == (200, {"status": "ok"})


async def test_a_dead_database_is_503_but_the_process_stays_alive() -> None:
    async with api_client(api_settings(_dead_database_url(), connect_timeout_s=2)) as client:
        ready = await client.get("/readyz")
        alive = await client.get("/healthz")
        listing = await client.get("/v1/contracts")
        metrics = await client.get("/metrics")
    assert ready.status_code == 503
    assert ready.json() == {"status": "unavailable"}
    assert ready.headers["retry-after"] == "5"
    assert alive.status_code == 200
    assert listing.status_code == 503
    assert listing.json()["error"]["code"] == "database_unavailable"
    assert listing.headers["retry-after"] == "5"
    assert "127.0.0.1" not in listing.text
    assert 'hangar_api_database_errors_total{kind="database_unavailable"} 1.0' in metrics.text


async def test_a_server_refusing_connections_is_503_not_500(database_url: str) -> None:
    """PostgreSQL up but refusing new sessions ("too many connections", or "starting up"
    while it recovers) is an unavailable database, whichever layer raises it."""
    role = f"refused_{os.getpid()}_{free_port()}"
    admin = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await admin.execute(f"CREATE ROLE {role} LOGIN CONNECTION LIMIT 0")
        refused_url = (
            make_url(database_url)
            .set(username=role, password=None)
            .render_as_string(hide_password=False)
        )
        async with api_client(api_settings(refused_url)) as client:
            ready = await client.get("/readyz")
            listing = await client.get("/v1/contracts")
            detail = await client.get("/v1/contracts/1")
    finally:
        await admin.execute(f"DROP ROLE IF EXISTS {role}")
        await admin.close()
    assert ready.status_code == 503
    for response in (listing, detail):
        assert response.status_code == 503, response.text
        assert response.json()["error"]["code"] == "database_unavailable"
        assert response.headers["retry-after"] == "5"


class ContractsLock:
    """An open transaction holding ``ACCESS EXCLUSIVE`` on ``contracts``: the API's statements
    wait for it until ``release``."""

    def __init__(self, database_url: str) -> None:
        self._database_url = database_url

    async def __aenter__(self) -> ContractsLock:
        self.connection = await asyncpg.connect(asyncpg_dsn(self._database_url))
        self._transaction = self.connection.transaction()
        await self._transaction.start()
        await self.connection.execute("LOCK TABLE contracts IN ACCESS EXCLUSIVE MODE")
        return self

    async def release(self) -> None:
        if not self.connection.is_closed() and self.connection.is_in_transaction():
            await self._transaction.rollback()

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self.release()
        finally:
            await self.connection.close()


async def test_the_statement_timeout_gives_503(database_url: str) -> None:
    await seed(database_url, [contract(1)])
    async with ContractsLock(database_url):
        settings = api_settings(database_url, statement_timeout_ms=300)
        async with api_client(settings) as client:
            response = await asyncio.wait_for(client.get("/v1/contracts"), timeout=30)
            metrics = await client.get("/metrics")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "query_timeout"
    assert 'hangar_api_database_errors_total{kind="query_timeout"} 1.0' in metrics.text


async def _until_the_api_waits_for_a_lock(database_url: str) -> None:
    watcher = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        for _ in range(200):
            waiting = await watcher.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'hangar-bay-api'"
                " AND datname = current_database() AND wait_event_type = 'Lock'"
            )
            if waiting:
                return
            await asyncio.sleep(0.02)
    finally:
        await watcher.close()
    pytest.fail("the API's query never waited for the lock")


async def test_connections_the_server_closed_are_replaced_without_an_error(
    database_url: str,
) -> None:
    """No pre-ping round trip per request, yet a restart or a terminated backend costs no
    failed request: a connection asyncpg has seen closing is replaced at checkout."""
    await seed(database_url, [contract(1)], [item(1, 1, 34)])
    app = create_app(api_settings(database_url, db_pool_size=2))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client,
    ):
        state = app.state.api
        assert isinstance(state, ApiState)
        opened: list[Any] = []
        event.listen(
            state.engine.sync_engine, "connect", lambda connection, _: opened.append(connection)
        )
        warm = await asyncio.gather(*(client.get("/v1/contracts") for _ in range(4)))
        assert {response.status_code for response in warm} == {200}
        admin = await asyncpg.connect(asyncpg_dsn(database_url))
        try:
            terminated = await admin.fetchval(
                "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = 'hangar-bay-api' AND datname = current_database())"
                " AS api"
            )
        finally:
            await admin.close()
        assert terminated >= 1
        assert opened, "the API opened no connection"

        async def all_seen_closed() -> bool:
            return all(connection.driver_connection.is_closed() for connection in opened)

        await wait_until(
            all_seen_closed, timeout=30, what="the API's connections seeing the server end them"
        )
        listing = await client.get("/v1/contracts")
        detail = await client.get("/v1/contracts/1")
    assert (listing.status_code, detail.status_code) == (200, 200), (listing.text, detail.text)


async def test_a_connection_lost_during_a_list_query_is_503_and_replaced(
    database_url: str,
) -> None:
    await seed(database_url, [contract(1)])
    settings = api_settings(database_url, db_pool_size=1, db_max_overflow=0)
    async with api_client(settings) as client:
        assert (await client.get("/v1/contracts")).status_code == 200
        async with ContractsLock(database_url) as lock:
            waiting = asyncio.create_task(client.get("/v1/contracts"))
            await _until_the_api_waits_for_a_lock(database_url)
            await lock.connection.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = 'hangar-bay-api' AND datname = current_database()"
            )
            lost = await asyncio.wait_for(waiting, timeout=30)
        again = await client.get("/v1/contracts")
    assert lost.status_code == 503
    assert lost.json()["error"]["code"] == "database_unavailable"
    assert again.status_code == 200


async def test_a_list_request_cancelled_mid_statement_leaves_no_broken_connection(
    database_url: str,
) -> None:
    await seed(database_url, [contract(1)])
    settings = api_settings(database_url, db_pool_size=1, db_max_overflow=0)
    async with api_client(settings) as client:
        async with ContractsLock(database_url):
            waiting = asyncio.create_task(client.get("/v1/contracts"))
            await _until_the_api_waits_for_a_lock(database_url)
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
        after = [await client.get("/v1/contracts") for _ in range(3)]
    assert [response.status_code for response in after] == [200, 200, 200]


async def test_unexpected_errors_are_a_generic_500(database_url: str) -> None:
    await seed(database_url, [contract(1)])
    admin = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await admin.execute("DROP TABLE contract_bids")  # the schema drifted under the API
    finally:
        await admin.close()
    async with api_client(api_settings(database_url)) as client:
        response = await client.get("/v1/contracts/1")
        still_serving = await client.get("/v1/contracts")
    assert response.status_code == 500
    assert response.json() == {
        "error": {"code": "internal_error", "message": "internal server error", "details": []}
    }
    assert still_serving.status_code == 200


async def test_sessions_are_read_only(database_url: str) -> None:
    """Defence in depth: even a bug could not write through the API's connections."""
    app = create_app(api_settings(database_url))
    async with app.router.lifespan_context(app):
        state = app.state.api
        assert isinstance(state, ApiState)
        async with state.engine.connect() as connection:
            with pytest.raises(DBAPIError, match="read-only transaction"):
                await connection.execute(text("CREATE TABLE nope (id int)"))


# --- metrics, gzip, CORS, OpenAPI ---------------------------------------------------------


async def test_metrics_record_latency_by_route_template_and_status(database_url: str) -> None:
    await seed(database_url, [contract(1)])
    async with api_client(api_settings(database_url)) as client:
        await client.get("/v1/contracts/1")
        await client.get("/v1/contracts/2")
        await client.get("/v1/contracts/3")
        await client.get("/no/such/route")
        metrics = await client.get("/metrics")
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text
    labels = 'method="GET",route="/v1/contracts/{contract_id}"'
    assert f'hangar_api_request_duration_seconds_count{{{labels},status="200"}} 1.0' in text
    assert f'hangar_api_request_duration_seconds_count{{{labels},status="404"}} 2.0' in text
    assert 'route="unmatched",status="404"' in text
    assert "/v1/contracts/2" not in text


async def test_large_responses_are_gzipped(database_url: str) -> None:
    await seed(database_url, [contract(contract_id) for contract_id in range(1, 41)])
    async with api_client(api_settings(database_url)) as client:
        large = await client.get("/v1/contracts", headers={"Accept-Encoding": "gzip"})
        small = await client.get("/healthz", headers={"Accept-Encoding": "gzip"})
    assert large.headers["content-encoding"] == "gzip"
    assert len(large.json()["items"]) == 40
    assert "content-encoding" not in small.headers


async def test_cors_is_off_by_default_and_configurable(database_url: str) -> None:
    origin = {"Origin": "https://tools.example.org"}
    async with api_client(api_settings(database_url)) as client:
        closed = await client.get("/healthz", headers=origin)
    settings = api_settings(database_url, cors_origins=["https://tools.example.org"])
    async with api_client(settings) as client:
        allowed = await client.get("/healthz", headers=origin)
        other = await client.get("/healthz", headers={"Origin": "https://evil.example.com"})
        preflight = await client.options(
            "/v1/contracts",
            headers={**origin, "Access-Control-Request-Method": "GET"},
        )
    assert "access-control-allow-origin" not in closed.headers
    assert allowed.headers["access-control-allow-origin"] == "https://tools.example.org"
    assert "access-control-allow-origin" not in other.headers
    assert preflight.status_code == 200
    assert "ETag" in allowed.headers["access-control-expose-headers"]


async def test_openapi_documents_every_parameter_and_error(database_url: str) -> None:
    async with api_client(api_settings(database_url)) as client:
        document = (await client.get("/openapi.json")).json()
    listing = document["paths"]["/v1/contracts"]["get"]
    names = {parameter["name"] for parameter in listing["parameters"]}
    assert names >= {
        "region_id",
        "type",
        "status",
        "min_price",
        "max_price",
        "min_reward",
        "max_reward",
        "min_collateral",
        "max_collateral",
        "min_volume",
        "max_volume",
        "issued_after",
        "issued_before",
        "expires_after",
        "expires_before",
        "start_location_id",
        "end_location_id",
        "issuer_id",
        "issuer_corporation_id",
        "contains_type_id",
        "include_requested",
        "title",
        "sort",
        "order",
        "limit",
        "cursor",
        "count",
    }
    assert all(parameter.get("description") for parameter in listing["parameters"])
    assert {"200", "304", "422", "503"} <= set(listing["responses"])
    assert listing["responses"]["200"]["content"]["application/json"]["example"]["items"]
    detail = document["paths"]["/v1/contracts/{contract_id}"]["get"]
    assert "404" in detail["responses"]
    assert {"/v1/regions", "/v1/stats", "/healthz", "/readyz"} <= set(document["paths"])
    money = document["components"]["schemas"]["ContractSummary"]["properties"]["price"]
    assert {"type": "string", "pattern": r"^-?\d+\.\d{2}$", "examples": ["1500000.00"]} in money[
        "anyOf"
    ]


# --- the served process -------------------------------------------------------------------


async def test_run_serves_the_app_with_uvicorn(database_url: str) -> None:
    """``run`` (what ``hangar-bay api`` calls) serves on the given port until terminated."""
    await seed(database_url, [contract(1)])
    port = free_port()
    code = (
        "from services.api.main import run; from services.api.settings import ApiSettings; "
        f"run(ApiSettings(), host='127.0.0.1', port={port})"
    )
    environment = {
        **os.environ,
        "HANGAR_DATABASE_URL": database_url,
        "HANGAR_LOG_JSON": "true",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        code,
        env=environment,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            for _ in range(600):
                try:
                    ready = await client.get("/readyz")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
            else:
                pytest.fail("the API did not start listening")
            listing = await client.get("/v1/contracts")
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), timeout=20)
    assert ready.status_code == 200
    assert [row["contract_id"] for row in listing.json()["items"]] == [1]
    assert "server" not in listing.headers


def _worker_processes(pid: int) -> list[int]:
    """The uvicorn workers among a process's children (multiprocessing also starts a resource
    tracker)."""
    workers = []
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        try:
            command = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        if b"spawn_main" in command:
            workers.append(int(child))
    return workers


async def test_run_serves_with_several_workers_sharing_one_cursor_secret(
    database_url: str,
) -> None:
    """``HANGAR_API_WORKERS=2``: two worker processes share the socket and, with the default
    random secret, one cursor secret (the parent's settings), so a cursor issued by one
    worker is good at the other; every request here is on a new connection."""
    await seed(database_url, [contract(contract_id) for contract_id in range(1, 31)])
    port = free_port()
    code = (
        "from services.api.main import run; from services.api.settings import ApiSettings; "
        f"run(ApiSettings(), host='127.0.0.1', port={port})"
    )
    environment = {
        **{name: value for name, value in os.environ.items() if name != "HANGAR_CURSOR_SECRET"},
        "HANGAR_DATABASE_URL": database_url,
        "HANGAR_API_WORKERS": "2",
        "HANGAR_LOG_JSON": "true",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        code,
        env=environment,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        workers: list[int] = []
        for _ in range(600):
            workers = _worker_processes(process.pid)
            try:
                async with httpx.AsyncClient(base_url=base_url) as client:
                    ready = await client.get("/readyz")
                if ready.status_code == 200 and len(workers) == 2:
                    break
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
        else:
            pytest.fail("the API did not start two workers")
        seen: list[int] = []
        cursor: str | None = None
        for _ in range(20):
            params: dict[str, Any] = {"limit": 3}
            if cursor is not None:
                params["cursor"] = cursor
            async with httpx.AsyncClient(base_url=base_url) as client:  # a new connection
                page = await client.get("/v1/contracts", params=params)
            assert page.status_code == 200, page.text
            seen += [row["contract_id"] for row in page.json()["items"]]
            cursor = page.json()["next_cursor"]
            if cursor is None:
                break
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), timeout=30)
    assert len(workers) == 2
    assert seen == list(range(30, 0, -1))
    assert process.returncode is not None


# --- response cache -----------------------------------------------------------------------


def _cache_lookups(metrics: httpx.Response) -> dict[str, float]:
    prefix = "hangar_api_response_cache_lookups_total{result="
    found: dict[str, float] = {}
    for line in metrics.text.splitlines():
        if line.startswith(prefix):
            label, value = line[len(prefix) :].split("} ")
            found[label.strip('"')] = float(value)
    return found


async def test_a_repeated_list_query_is_answered_from_memory_until_it_expires(
    database_url: str,
) -> None:
    await seed(database_url, [contract(1)])
    async with api_client(api_settings(database_url, response_cache_s=1.0)) as client:
        first = await client.get("/v1/contracts", params={"limit": 10})
        await seed(database_url, [contract(2)])
        # the same query, spelled differently: same validated parameters, same entry
        again = await client.get("/v1/contracts", params={"limit": "10", "order": "desc"})
        other = await client.get("/v1/contracts", params={"limit": 11})
        await asyncio.sleep(1.1)
        expired = await client.get("/v1/contracts", params={"limit": 10})
        metrics = await client.get("/metrics")
    assert ids(first) == ids(again) == [1]
    assert again.headers["etag"] == first.headers["etag"]
    assert ids(other) == ids(expired) == [2, 1]
    assert _cache_lookups(metrics) == {"hit": 1.0, "miss": 3.0}


async def test_concurrent_identical_queries_share_one_statement(database_url: str) -> None:
    await seed(database_url, [contract(1), contract(2)])
    settings = api_settings(database_url, response_cache_s=30.0, db_pool_size=5)
    async with api_client(settings) as client:
        async with ContractsLock(database_url) as lock:
            waiting = [asyncio.create_task(client.get("/v1/contracts")) for _ in range(5)]
            await _until_the_api_waits_for_a_lock(database_url)

            async def all_five_looked_up() -> bool:
                lookups = _cache_lookups(await client.get("/metrics"))
                return sum(lookups.values()) >= 5

            await wait_until(all_five_looked_up, timeout=30, what="five cache lookups")
            statements = await lock.connection.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'hangar-bay-api'"
                " AND datname = current_database() AND wait_event_type = 'Lock'"
            )
        responses = await asyncio.wait_for(asyncio.gather(*waiting), timeout=30)
        metrics = await client.get("/metrics")
    assert statements == 1
    assert {r.status_code for r in responses} == {200}
    assert {r.content for r in responses} == {responses[0].content}
    assert _cache_lookups(metrics) == {"miss": 1.0, "shared": 4.0}


async def test_a_failed_query_is_not_cached(database_url: str) -> None:
    await seed(database_url, [contract(1)])
    async with ContractsLock(database_url) as lock:
        settings = api_settings(database_url, response_cache_s=30.0, statement_timeout_ms=300)
        async with api_client(settings) as client:
            timed_out = await asyncio.wait_for(client.get("/v1/contracts"), timeout=30)
            await lock.release()
            answered = await client.get("/v1/contracts")
    assert timed_out.status_code == 503
    assert ids(answered) == [1]
