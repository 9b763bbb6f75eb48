"""Hostile and malformed input at every door: ESI payloads, stream messages, API parameters.

Each bad input must get a clear error or be dead-lettered, and nothing valid beside it may be
lost:

* ESI payloads, served by the simulator through an httpx transport that corrupts one entry
  (wrong types, huge strings, negative or overflowing ids, unknown enum values, missing
  required fields, malformed JSON), go through the real fetcher: it must not publish the bad
  entry and must publish every valid neighbour, with all its items;
* messages published straight to the stream (wrong schema versions, wrong types, huge strings,
  undecodable bytes, rows PostgreSQL refuses) go through the real persister: each is
  dead-lettered with a reason, every valid message beside it is applied;
* API parameters (SQL injection attempts, integer overflows, huge limits and lists, bad or
  tampered cursors) are answered 422 with a JSON error that does not echo them, never 500.
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
from nats.js.errors import NotFoundError

from common.db import asyncpg_dsn
from common.messages import ContractsBatch, ContractsDelisted, Event, RegionSweep, parse_message
from common.settings import HangarSettings
from common.subjects import Subjects
from services.fetcher.main import fetcher_resources, run_once
from services.fetcher.settings import FetcherSettings
from services.persister.main import serve
from services.persister.settings import PersisterSettings
from tests.integration.test_api_support import api_client, api_settings, contract, item, seed
from tests.support import factories as f
from tests.support.sim import SIM_BASE_URL, Sim
from tests.support.stream import dead_letters, jetstream, publish

pytestmark = pytest.mark.faults

REGIONS = {10000002: 150, 10000043: 50}
TARGET_REGION = 10000002
OTHER_REGION = 10000043

Json = Any
Mutation = Callable[[dict[str, Any]], None]


# -- ESI payloads through the fetcher --------------------------------------------------------


class HostileEsi(httpx.AsyncBaseTransport):
    """The simulator, except that the 200 body of ``path`` goes through ``rewrite``."""

    def __init__(
        self, inner: httpx.AsyncBaseTransport, path: str, rewrite: Callable[[bytes], bytes]
    ) -> None:
        self._inner = inner
        self._path = path
        self._rewrite = rewrite
        self.served = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        if request.url.path != self._path or response.status_code != 200:
            return response
        body = await response.aread()
        self.served += 1
        dropped = {"content-length", "etag", "content-encoding"}
        headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in dropped]
        return httpx.Response(200, headers=headers, content=self._rewrite(body), request=request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def _fetcher_settings(settings: HangarSettings) -> FetcherSettings:
    return FetcherSettings.model_validate(
        {
            **settings.model_dump(),
            "esi_base_url": SIM_BASE_URL,
            "regions": list(REGIONS),
            "max_attempts": 2,
            "backoff_base_seconds": 0.01,
            "backoff_max_seconds": 0.02,
        }
    )


def _entry_rewrite(index: int, mutate: Mutation) -> Callable[[bytes], bytes]:
    def rewrite(body: bytes) -> bytes:
        entries = orjson.loads(body)
        mutate(entries[index])
        return json.dumps(entries).encode()  # orjson refuses integers beyond 64 bits

    return rewrite


async def _published(settings: HangarSettings) -> dict[int, ContractsBatch]:
    """contract id -> the batch that published it; every retained message must parse."""
    found: dict[int, ContractsBatch] = {}
    async with jetstream(settings) as (_, js):
        messages = await _all_messages(js, settings)
    for message in messages:
        if isinstance(message, ContractsBatch):
            for published in message.contracts:
                assert published.contract_id not in found, "a contract was published twice"
                found[published.contract_id] = message
    return found


async def _all_messages(js: Any, settings: HangarSettings) -> list[Event]:
    """Every retained message of the stream, in order (retention leaves gaps in sequences)."""
    subjects = Subjects(settings.name_prefix)
    messages: list[Event] = []
    sequence = 1
    while True:
        try:
            raw = await js.get_msg(
                subjects.stream, sequence, subject=subjects.all_events, next=True
            )
        except NotFoundError:
            return messages
        messages.append(parse_message(raw.data))  # anything published must be valid
        sequence = raw.seq + 1


def _items(batch: ContractsBatch, contract_id: int) -> set[int]:
    return {i.record_id for c in batch.contracts if c.contract_id == contract_id for i in c.items}


@contextlib.asynccontextmanager
async def _hostile_fetcher(
    settings: HangarSettings, sim: Sim, path: str, rewrite: Callable[[bytes], bytes]
) -> AsyncIterator[HostileEsi]:
    transport = HostileEsi(sim.transport, path, rewrite)
    async with fetcher_resources(_fetcher_settings(settings), transport) as resources:
        await run_once(resources)
    assert transport.served, f"the fetcher never asked for {path}"
    yield transport


def _victim(sim: Sim, kind: str = "item_exchange") -> tuple[int, int]:
    """(index in page 1 of the target region, contract id) of a contract of ``kind``."""
    listing = sim.world.contracts(TARGET_REGION)
    for index, entry in enumerate(listing):
        if entry["type"] == kind and sim.world.items(entry["contract_id"]):
            return index, int(entry["contract_id"])
    raise AssertionError(f"no {kind} in the simulated region")


def _set(field: str, value: Json) -> Mutation:
    def mutate(entry: dict[str, Any]) -> None:
        entry[field] = value

    return mutate


def _drop(field: str) -> Mutation:
    def mutate(entry: dict[str, Any]) -> None:
        del entry[field]

    return mutate


def _negate(field: str) -> Mutation:
    def mutate(entry: dict[str, Any]) -> None:
        entry[field] = -int(entry[field])

    return mutate


HOSTILE_CONTRACT_ENTRIES = [
    pytest.param(_set("contract_id", "one-nine-zero"), id="wrong type: id as text"),
    pytest.param(_set("price", "cheap"), id="wrong type: price as text"),
    pytest.param(_set("date_issued", "last Tuesday"), id="wrong type: date as prose"),
    pytest.param(_set("date_expired", [2026, 1, 1]), id="wrong type: date as list"),
    pytest.param(_set("for_corporation", {"yes": True}), id="wrong type: object for bool"),
    pytest.param(_set("title", "A" * 1_000_000), id="huge string: 1 MB title"),
    pytest.param(_negate("contract_id"), id="negative contract id"),
    pytest.param(_negate("issuer_id"), id="negative issuer id"),
    pytest.param(_set("contract_id", 2**64), id="id beyond 64 bits"),
    pytest.param(_set("price", 1e300), id="absurd price"),
    pytest.param(_set("type", "item_exchange'; DROP TABLE contracts;--"), id="hostile enum value"),
    pytest.param(_drop("date_expired"), id="missing required field"),
    pytest.param(_drop("contract_id"), id="missing id"),
]

HOSTILE_ITEM_ENTRIES = [
    pytest.param(_set("quantity", "lots"), id="wrong type: quantity as text"),
    pytest.param(_set("is_included", "maybe"), id="wrong type: bool as text"),
    pytest.param(_negate("record_id"), id="negative record id"),
    pytest.param(_set("type_id", 2**64), id="type id beyond 64 bits"),
    pytest.param(_set("material_efficiency", 10**6), id="out of range"),
    pytest.param(_drop("is_included"), id="missing required field"),
    pytest.param(_set("record_id", None), id="null id"),
]


@pytest.mark.parametrize("mutate", HOSTILE_CONTRACT_ENTRIES)
async def test_a_hostile_contract_entry_is_never_published(
    settings: HangarSettings, mutate: Mutation
) -> None:
    sim = Sim.build(REGIONS)
    index, victim = _victim(sim)
    path = f"/contracts/public/{TARGET_REGION}"
    async with _hostile_fetcher(settings, sim, path, _entry_rewrite(index, mutate)):
        published = await _published(settings)
    assert victim not in published
    other = sim.listed()[OTHER_REGION]
    assert {cid: _items(published[cid], cid) for cid in other if cid in published} == other


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(_set("price", "cheap"), id="wrong type: price as text"),
        pytest.param(_negate("issuer_id"), id="negative issuer id"),
        pytest.param(_drop("date_expired"), id="missing required field"),
    ],
)
async def test_a_hostile_contract_entry_does_not_cost_its_valid_neighbours(
    settings: HangarSettings, mutate: Mutation
) -> None:
    sim = Sim.build(REGIONS)
    index, victim = _victim(sim)
    path = f"/contracts/public/{TARGET_REGION}"
    async with _hostile_fetcher(settings, sim, path, _entry_rewrite(index, mutate)):
        published = await _published(settings)
    expected = {cid: items for region in sim.listed().values() for cid, items in region.items()}
    del expected[victim]
    assert {cid: _items(batch, cid) for cid, batch in published.items()} == expected


async def _a_known_contract_in_the_next_generation(
    settings: HangarSettings,
) -> tuple[Sim, list[dict[str, Any]], int]:
    """The simulator after one fetcher cycle and one more generation, that generation's
    listing of the target region, and the index in it of a contract already published."""
    sim = Sim.build(REGIONS)
    async with fetcher_resources(_fetcher_settings(settings), sim.transport) as resources:
        await run_once(resources)
    before = set(sim.listed()[TARGET_REGION])
    sim.world.advance()
    listing = sim.world.contracts(TARGET_REGION)
    index = next(i for i, entry in enumerate(listing) if entry["contract_id"] in before)
    return sim, listing, index


async def test_a_known_contract_whose_entry_turns_invalid_is_not_marked_gone(
    settings: HangarSettings,
) -> None:
    sim, listing, index = await _a_known_contract_in_the_next_generation(settings)
    victim = int(listing[index]["contract_id"])
    path = f"/contracts/public/{TARGET_REGION}"
    rewrite = _entry_rewrite(index, _set("price", "cheap"))
    async with _hostile_fetcher(settings, sim, path, rewrite), jetstream(settings) as (_, js):
        messages = await _all_messages(js, settings)
    delisting = [
        m for m in messages if isinstance(m, ContractsDelisted) and victim in m.contract_ids
    ]
    assert not delisting, f"contract {victim}, still listed, was published as delisted"
    newest = [m for m in messages if isinstance(m, RegionSweep) and m.region_id == TARGET_REGION]
    assert all(victim in sweep.contract_ids for sweep in newest), "a sweep omits a listed contract"


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(_drop("contract_id"), id="missing id"),
        pytest.param(_set("contract_id", "one-nine-zero"), id="id as text"),
        pytest.param(_negate("contract_id"), id="negative id"),
    ],
)
async def test_a_sweep_with_an_unidentifiable_entry_decides_nothing_about_existence(
    settings: HangarSettings, mutate: Mutation
) -> None:
    """An invalid entry without a usable contract id might be any known contract: the sweep
    of that generation is not published (nothing delisted), the valid contracts still are."""
    sim, listing, index = await _a_known_contract_in_the_next_generation(settings)
    path = f"/contracts/public/{TARGET_REGION}"
    async with (
        _hostile_fetcher(settings, sim, path, _entry_rewrite(index, mutate)),
        jetstream(settings) as (_, js),
    ):
        messages = await _all_messages(js, settings)
    delisted = [m for m in messages if isinstance(m, ContractsDelisted)]
    assert all(m.region_id != TARGET_REGION for m in delisted)
    sweeps = {m.region_id: m for m in messages if isinstance(m, RegionSweep)}
    first_generation = min(m.generation for m in messages if isinstance(m, RegionSweep))
    assert sweeps[TARGET_REGION].generation == first_generation, "the partial sweep was published"
    assert sweeps[OTHER_REGION].generation > first_generation, "the other region stalled"
    published = {
        c.contract_id for m in messages if isinstance(m, ContractsBatch) for c in m.contracts
    }
    valid = {int(e["contract_id"]) for i, e in enumerate(listing) if i != index}
    assert valid <= published


async def test_an_unknown_but_well_formed_contract_type_is_kept(settings: HangarSettings) -> None:
    """ESI adds enum values without notice: a new type is stored as-is (without items)."""
    sim = Sim.build(REGIONS)
    index, victim = _victim(sim)
    path = f"/contracts/public/{TARGET_REGION}"
    rewrite = _entry_rewrite(index, _set("type", "mystery_box"))
    async with _hostile_fetcher(settings, sim, path, rewrite):
        published = await _published(settings)
    assert [c.type for c in published[victim].contracts if c.contract_id == victim] == [
        "mystery_box"
    ]
    expected = {cid: items for region in sim.listed().values() for cid, items in region.items()}
    expected[victim] = set()
    assert {cid: _items(batch, cid) for cid, batch in published.items()} == expected


@pytest.mark.parametrize("mutate", HOSTILE_ITEM_ENTRIES)
async def test_a_contract_with_a_hostile_item_is_not_published_and_nothing_else_is_lost(
    settings: HangarSettings, mutate: Mutation
) -> None:
    sim = Sim.build(REGIONS)
    _, victim = _victim(sim)
    path = f"/contracts/public/items/{victim}"
    async with _hostile_fetcher(settings, sim, path, _entry_rewrite(0, mutate)):
        published = await _published(settings)
    expected = {cid: items for region in sim.listed().values() for cid, items in region.items()}
    del expected[victim]
    assert {cid: _items(batch, cid) for cid, batch in published.items()} == expected


@pytest.mark.parametrize(
    "rewrite",
    [
        pytest.param(lambda body: body[: len(body) // 2], id="truncated JSON"),
        pytest.param(lambda body: b"<html><body>502 Bad Gateway</body></html>", id="HTML"),
        pytest.param(lambda body: b"", id="empty body"),
        pytest.param(lambda body: b"[" * 100_000, id="deeply nested"),
        pytest.param(lambda body: b'{"error": "not a list"}', id="object instead of list"),
        pytest.param(lambda body: b"\xff\xfe" + body, id="not UTF-8"),
    ],
)
async def test_a_malformed_items_body_costs_only_its_own_contract(
    settings: HangarSettings, rewrite: Callable[[bytes], bytes]
) -> None:
    sim = Sim.build(REGIONS)
    _, victim = _victim(sim, "auction")
    async with _hostile_fetcher(settings, sim, f"/contracts/public/items/{victim}", rewrite):
        published = await _published(settings)
    expected = {cid: items for region in sim.listed().values() for cid, items in region.items()}
    del expected[victim]
    assert {cid: _items(batch, cid) for cid, batch in published.items()} == expected


async def test_a_malformed_list_page_degrades_only_its_region(settings: HangarSettings) -> None:
    sim = Sim.build(REGIONS)
    path = f"/contracts/public/{TARGET_REGION}"
    transport = HostileEsi(sim.transport, path, lambda body: body[: len(body) // 3])
    async with fetcher_resources(_fetcher_settings(settings), transport) as resources:
        reports = {report.region_id: report for report in await run_once(resources)}
    assert reports[TARGET_REGION].degraded
    assert not reports[OTHER_REGION].degraded
    published = await _published(settings)
    assert {cid: _items(batch, cid) for cid, batch in published.items()} == sim.listed()[
        OTHER_REGION
    ]
    async with jetstream(settings) as (_, js):
        sweeps = [m for m in await _all_messages(js, settings) if isinstance(m, RegionSweep)]
    assert [s.region_id for s in sweeps] == [OTHER_REGION]  # no existence decided on garbage


# -- stream messages through the persister ---------------------------------------------------


def _batch_json(contract_id: int, **changes: Json) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(f.batch([f.contract(contract_id)], page=1).to_json())
    contract_changes = changes.pop("contract", {})
    body["contracts"][0].update(contract_changes)
    body.update(changes)
    return body


def _hostile_messages() -> list[tuple[str, bytes]]:
    deep = b'{"kind": "contracts", "schema_version": 1, "x": ' + b"[" * 50_000 + b"]" * 50_000
    overflow = json.dumps(_batch_json(507, contract={"contract_id": 2**64})).encode()
    return [
        ("wrong schema_version", orjson.dumps(_batch_json(501, schema_version=2))),
        ("schema_version as text", orjson.dumps(_batch_json(502, schema_version="1.0"))),
        ("wrong type: price", orjson.dumps(_batch_json(503, contract={"price": "cheap"}))),
        ("wrong type: items", orjson.dumps(_batch_json(504, contract={"items": "none"}))),
        ("huge string", orjson.dumps(_batch_json(505, contract={"title": "T" * 300_000}))),
        ("negative id", orjson.dumps(_batch_json(506, contract={"contract_id": -506}))),
        ("id beyond 64 bits", overflow),
        ("missing region", orjson.dumps(_without(_batch_json(508), "region_id"))),
        ("no contracts", orjson.dumps(_batch_json(509, contracts=[]))),
        ("unknown kind", orjson.dumps({"kind": "teleport", "schema_version": 1})),
        ("naive timestamp", orjson.dumps(_batch_json(510, fetched_at="2026-11-01T12:00:00"))),
        ("invalid JSON", b'{"kind": "contracts", "schema_version": 1, "contracts": [{'),
        ("not UTF-8", b"\xff\xfe\xfd\x00 binary"),
        ("empty", b""),
        ("null", b"null"),
        ("list", b"[1, 2, 3]"),
        ("deeply nested", deep),
        ("sweep with a bad generation",
         orjson.dumps({**json.loads(f.sweep([1], gen=1).to_json()), "generation": "soon"})),
    ]  # fmt: skip


def _without(body: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != key}


async def _database(database_url: str) -> dict[int, set[int]]:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        rows = await connection.fetch(
            "SELECT c.contract_id, array_remove(array_agg(i.record_id), NULL) AS items"
            " FROM contracts c LEFT JOIN contract_items i USING (contract_id) GROUP BY 1"
        )
    finally:
        await connection.close()
    return {row["contract_id"]: set(row["items"]) for row in rows}


async def test_hostile_messages_are_dead_lettered_and_their_neighbours_applied(
    settings: HangarSettings,
) -> None:
    valid = [f.batch([f.contract(1000 + n, items=3)], page=n + 1) for n in range(8)]
    nul_title = f.contract(2001, items=2).model_copy(update={"title": "bad\x00title"})
    mixed = f.batch([f.contract(2000, items=2), nul_title], page=20)
    thief = f.contract(3000, items=1)
    stolen_item = valid[0].contracts[0].items[0]
    thief = thief.model_copy(update={"items": [stolen_item]})  # an item of another contract
    conflict = f.batch([thief], page=30)
    hostile = _hostile_messages()
    subjects = Subjects(settings.name_prefix)
    async with jetstream(settings) as (_, js):
        for index, (name, body) in enumerate(hostile):
            await publish(js, settings, valid[index % len(valid)])
            subject = subjects.contracts(10000002, f"hostile{index}")
            await js.publish(subject, body, headers={"Nats-Msg-Id": f"hostile:{name}"})
        await publish(js, settings, mixed, conflict)
        await serve(
            PersisterSettings.model_validate(
                {**settings.model_dump(), "retry_delay_seconds": 0.1, "ack_wait_seconds": 2}
            ),
            until_idle=True,
        )
        letters = await dead_letters(js, settings)

    expected = {c.contract_id: {i.record_id for i in c.items} for b in valid for c in b.contracts}
    expected[2000] = {i.record_id for i in mixed.contracts[0].items}
    assert await _database(settings.database_url) == expected

    by_payload = {letter.payload: letter for letter in letters}
    for name, body in hostile:
        letter = by_payload.get(body.decode("utf-8", errors="replace"))
        assert letter is not None, f"{name}: not dead-lettered"
        assert letter.reason.strip(), f"{name}: dead-lettered without a reason"
    reasons = [letter.reason for letter in letters]
    assert any("2001" in reason for reason in reasons), "the NUL title was not dead-lettered"
    assert any("3000" in reason or "record" in reason for reason in reasons), reasons
    assert len(letters) == len(hostile) + 2, reasons


# -- API parameters --------------------------------------------------------------------------

INJECTIONS = [
    "1 OR 1=1",
    "1; DROP TABLE contracts; --",
    "' OR '1'='1",
    "1) UNION SELECT * FROM pg_shadow --",
    "$1",
    "1e309",
    "0x7fffffffffffffff",
    str(2**63),
    str(2**64),
    str(-(2**63) - 1),
    "9" * 400,
    "NaN",
]


def _hostile_parameters() -> list[tuple[str, dict[str, Any]]]:
    cases: list[tuple[str, dict[str, Any]]] = []
    for value in INJECTIONS:
        for name in ("region_id", "issuer_id", "contains_type_id", "limit", "min_price"):
            cases.append((f"{name}={value[:20]}", {name: value}))
    cases += [
        ("type injection", {"type": "item_exchange' OR '1'='1"}),
        ("sort injection", {"sort": "price; DROP TABLE contracts"}),
        ("order injection", {"order": "asc, (SELECT pg_sleep(10))"}),
        ("status injection", {"status": "outstanding' --"}),
        ("huge limit", {"limit": 10**12}),
        ("negative limit", {"limit": -1}),
        ("limit as float", {"limit": 2.5}),
        ("huge region list", {"region_id": list(range(1, 3001))}),
        ("huge type list", {"type": ["courier"] * 1000}),
        ("huge title", {"title": "x" * 30_000}),
        ("title with NUL", {"title": "\x00"}),
        ("date overflow", {"issued_after": "99999-01-01T00:00:00Z"}),
        ("date injection", {"issued_after": "2025-01-01'; DROP TABLE contracts; --"}),
        ("volume overflow", {"min_volume": "1e400"}),
        ("money with exponent", {"min_price": "1e100"}),
        ("bool injection", {"count": "true OR 1=1"}),
        ("unknown parameter", {"debug": "1"}),
        ("garbage cursor", {"cursor": "' OR 1=1 --"}),
        ("huge cursor", {"cursor": "A" * 30_000}),
        ("cursor of forged JSON", {"cursor": _forged_cursor()}),
        ("cursor with two dots", {"cursor": "a.b.c"}),
        ("cursor of binary", {"cursor": base64.urlsafe_b64encode(b"\x00\xff" * 20).decode()}),
    ]
    return cases


def _forged_cursor() -> str:
    payload = json.dumps({"v": 1, "s": "price", "o": "asc", "k": "1; DROP", "i": 1, "f": "x"})
    encoded = base64.urlsafe_b64encode(payload.encode()).rstrip(b"=").decode()
    return f"{encoded}.{'A' * 22}"


async def _seeded(database_url: str) -> None:
    await seed(
        database_url,
        [contract(n, title=f"Jita deal {n}") for n in range(1, 8)],
        [item(n * 10, n, 34) for n in range(1, 8)],
    )


def _refusal_problems(response: httpx.Response, params: dict[str, Any]) -> list[str]:
    """Why ``response`` is not a clear 422 JSON error that keeps the input to itself."""
    if response.status_code != 422:
        return [f"answered {response.status_code}: {response.text[:200]}"]
    problems = []
    if not response.headers["content-type"].startswith("application/json"):
        problems.append(f"content type {response.headers['content-type']}")
    error = response.json().get("error", {})
    if error.get("code") not in {"validation_error", "invalid_cursor"}:
        problems.append(f"error code {error.get('code')!r}")
    if not error.get("message") or not error.get("details"):
        problems.append("no message or no details")
    for value in params.values():
        if isinstance(value, str) and len(value) > 3 and value in response.text:
            problems.append("the error echoes the hostile input")
    return problems


async def test_hostile_list_parameters_get_a_clear_422_never_a_500(database_url: str) -> None:
    """One app, every hostile parameter set (one request each), then the data is intact."""
    await _seeded(database_url)
    failures = []
    async with api_client(api_settings(database_url)) as client:
        for name, params in _hostile_parameters():
            response = await client.get("/v1/contracts", params=params)
            failures += [f"{name}: {problem}" for problem in _refusal_problems(response, params)]
        still_there = await client.get("/v1/contracts", params={"limit": 100})
    assert not failures, "\n".join(failures)
    assert len(still_there.json()["items"]) == 7


async def test_sql_in_a_free_text_filter_is_only_ever_text(database_url: str) -> None:
    await _seeded(database_url)
    titles = ["' OR 1=1 --", "%", "_", "%' OR title LIKE '%", "\\", "Jita deal 1'; --", "*"]
    async with api_client(api_settings(database_url)) as client:
        for title in titles:
            response = await client.get("/v1/contracts", params={"title": title})
            assert response.status_code == 200, (title, response.text)
            assert response.json()["items"] == [], f"title={title!r} matched something"
        plain = await client.get("/v1/contracts", params={"title": "deal 7"})
    assert [c["contract_id"] for c in plain.json()["items"]] == [7]


async def test_hostile_contract_ids_get_a_clear_422(database_url: str) -> None:
    await _seeded(database_url)
    hostile = ["0", "-1", str(2**63), str(2**64), "1 OR 1=1", "1;DROP TABLE contracts", "1e3",
               "0x10", "%00", "9" * 1000, "1%20UNION%20SELECT%201"]  # fmt: skip
    async with api_client(api_settings(database_url)) as client:
        for contract_id in hostile:
            response = await client.get(f"/v1/contracts/{contract_id}")
            assert response.status_code == 422, (contract_id, response.text[:300])
            assert response.json()["error"]["code"] == "validation_error"


async def test_a_tampered_cursor_is_refused_and_the_genuine_one_still_works(
    database_url: str,
) -> None:
    await _seeded(database_url)
    async with api_client(api_settings(database_url)) as client:
        first = await client.get("/v1/contracts", params={"limit": 2, "sort": "price"})
        cursor = first.json()["next_cursor"]
        payload, signature = cursor.split(".")
        decoded = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        decoded["i"] = 1  # jump elsewhere
        forged = base64.urlsafe_b64encode(json.dumps(decoded).encode()).rstrip(b"=").decode()
        tampered = await client.get(
            "/v1/contracts",
            params={"limit": 2, "sort": "price", "cursor": f"{forged}.{signature}"},
        )
        other_filters = await client.get(
            "/v1/contracts", params={"limit": 2, "sort": "price", "cursor": cursor, "type": "x"}
        )
        genuine = await client.get(
            "/v1/contracts", params={"limit": 2, "sort": "price", "cursor": cursor}
        )
    assert tampered.status_code == other_filters.status_code == 422
    assert tampered.json()["error"]["code"] == "invalid_cursor"
    assert genuine.status_code == 200
    assert len(genuine.json()["items"]) == 2
