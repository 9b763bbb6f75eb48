"""The ESI simulator: deterministic world, ESI-shaped payloads, HTTP behaviour and faults."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from services.esi_sim import main as sim_main
from services.esi_sim.app import create_app
from services.esi_sim.faults import FaultConfig
from services.esi_sim.httpcache import imf_date
from services.esi_sim.world import SimWorld
from tests.support.esi_samples import SAMPLES_DIR

START = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
FORGE = 10000002
DOMAIN = 10000043
SAMPLES = SAMPLES_DIR

# Keys per contract type seen in the real samples (EVE Ref fixtures in tests/samples).
SAMPLE_CONTRACT_KEYS: dict[str, set[str]] = {
    "item_exchange": {
        "collateral",
        "contract_id",
        "date_expired",
        "date_issued",
        "days_to_complete",
        "end_location_id",
        "issuer_corporation_id",
        "issuer_id",
        "price",
        "reward",
        "start_location_id",
        "title",
        "type",
        "volume",
    },
    "auction": {
        "buyout",
        "contract_id",
        "date_expired",
        "date_issued",
        "days_to_complete",
        "end_location_id",
        "issuer_corporation_id",
        "issuer_id",
        "price",
        "reward",
        "start_location_id",
        "title",
        "type",
        "volume",
    },
}
SAMPLE_CONTRACT_KEYS["courier"] = SAMPLE_CONTRACT_KEYS["item_exchange"]
SCHEMA_CONTRACT_KEYS = SAMPLE_CONTRACT_KEYS["item_exchange"] | {"buyout", "for_corporation"}
DOCUMENTED_OPTIONAL = {"for_corporation"}
REQUIRED_CONTRACT_KEYS = {
    "contract_id",
    "issuer_id",
    "issuer_corporation_id",
    "type",
    "date_issued",
    "date_expired",
}
SAMPLE_ITEM_KEYS = {
    "is_blueprint_copy",
    "is_included",
    "item_id",
    "material_efficiency",
    "quantity",
    "record_id",
    "runs",
    "time_efficiency",
    "type_id",
}
SAMPLE_BID_KEYS = {"amount", "bid_id", "date_bid"}
ISO_Z = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
STRONG_ETAG = re.compile(r'"[0-9a-f]{40}"')


class FakeClock:
    """A monotonic clock the tests move by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeWall:
    """A wall clock the tests move by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def small_world(seed: int = 1, **kwargs: Any) -> SimWorld:
    options: dict[str, Any] = {
        "regions": {FORGE: 2500, DOMAIN: 300},
        "churn_per_generation": 20,
        "start": START,
    }
    options.update(kwargs)
    return SimWorld(seed, **options)


def make_app(world: SimWorld, **kwargs: Any) -> FastAPI:
    options: dict[str, Any] = {"wall": FakeWall(START + timedelta(seconds=100))}
    options.update(kwargs)
    return create_app(world, **options)


def client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://esi.test")


def of_type(world: SimWorld, region_id: int, kind: str) -> list[dict[str, Any]]:
    return [c for c in world.contracts(region_id) if c["type"] == kind]


async def set_faults(http: httpx.AsyncClient, **faults: Any) -> None:
    response = await http.post("/_sim/faults", json=faults)
    assert response.status_code == 200, response.text


# -- world ------------------------------------------------------------------------------------


def test_same_seed_gives_same_world() -> None:
    first, second = small_world(7), small_world(7)
    assert first.contracts(FORGE) == second.contracts(FORGE)
    assert first.truth() == second.truth()
    for contract in first.contracts(FORGE)[:300]:
        cid = contract["contract_id"]
        assert first.items(cid) == second.items(cid)
        assert first.bids(cid) == second.bids(cid)
    first.advance()
    second.advance()
    assert first.contracts(DOMAIN) == second.contracts(DOMAIN)
    assert first.truth() == second.truth()
    assert small_world(8).contracts(FORGE) != first.contracts(FORGE)


def test_items_do_not_depend_on_world_size() -> None:
    small, large = small_world(3), small_world(3, regions={FORGE: 4000, DOMAIN: 10})
    shared = {c["contract_id"] for c in small.contracts(FORGE)} & {
        c["contract_id"] for c in large.contracts(FORGE)
    }
    assert len(shared) >= 5
    for cid in sorted(shared):
        assert small.contract_type(cid) == large.contract_type(cid)
        assert small.items(cid) == large.items(cid)


def test_world_of_35000_contracts_has_unique_ids() -> None:
    world = SimWorld(seed=2, regions={FORGE: 35_000}, start=START)
    listed = world.contracts(FORGE)
    assert len(listed) == 35_000
    assert len({c["contract_id"] for c in listed}) == 35_000


def test_default_world() -> None:
    world = SimWorld(start=START)
    assert world.region_ids() == [10000002, 10000043, 10000032]
    assert [len(world.contracts(r)) for r in world.region_ids()] == [3000, 1000, 800]
    assert world.generation == 0
    assert world.last_modified(FORGE) == START
    assert set(world.region_ids()) < set(world.universe_region_ids())


def test_contract_ids_increase_and_look_real() -> None:
    world = small_world()
    ids = [c["contract_id"] for c in world.contracts(FORGE)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert 230_000_000 <= ids[0] < 231_000_000
    issued = [c["date_issued"] for c in world.contracts(FORGE)]
    assert issued == sorted(issued)


def test_samples_still_have_the_keys_the_tests_assume() -> None:
    seen: dict[str, set[str]] = {}
    for path in SAMPLES.glob("*contracts-*.json"):
        for contract in json.loads(path.read_text()):
            if contract["contract_id"] >= 100_000_000:  # ids 1000-9000 are synthetic
                seen.setdefault(contract["type"], set()).update(contract)
    assert seen == SAMPLE_CONTRACT_KEYS
    item_keys: set[str] = set()
    for path in SAMPLES.glob("*items-*.json"):
        for item in json.loads(path.read_text()):
            item_keys.update(item)
    assert item_keys == SAMPLE_ITEM_KEYS
    bid_keys: set[str] = set()
    for path in SAMPLES.glob("*bids-*.json"):
        for bid in json.loads(path.read_text()):
            bid_keys.update(bid)
    assert bid_keys == SAMPLE_BID_KEYS


def test_contract_fields_match_real_shapes() -> None:
    world = SimWorld(seed=5, regions={FORGE: 5000}, start=START)
    contracts = world.contracts(FORGE)
    for contract in contracts:
        kind = contract["type"]
        keys = set(contract)
        allowed = SAMPLE_CONTRACT_KEYS.get(kind, SCHEMA_CONTRACT_KEYS) | DOCUMENTED_OPTIONAL
        assert keys >= REQUIRED_CONTRACT_KEYS
        assert keys <= allowed, (kind, keys - allowed)
        if kind in SAMPLE_CONTRACT_KEYS:
            assert keys - DOCUMENTED_OPTIONAL == SAMPLE_CONTRACT_KEYS[kind]
        assert ("collateral" in keys) == (kind != "auction")
        assert ("buyout" in keys) == (kind == "auction")
        assert contract.get("for_corporation", True) is True
        assert ISO_Z.fullmatch(contract["date_issued"])
        assert ISO_Z.fullmatch(contract["date_expired"])
        assert contract["date_issued"] < contract["date_expired"]
        assert contract["date_expired"] > START.strftime("%Y-%m-%dT%H:%M:%SZ")
        for field in ("price", "reward", "volume"):
            assert isinstance(contract[field], int | float)
            assert contract[field] >= 0
        if kind == "courier":
            assert contract["price"] == 0
            assert contract["reward"] > 0
            assert contract["days_to_complete"] > 0
            assert contract["start_location_id"] != contract["end_location_id"]
        else:
            assert contract["days_to_complete"] == 0
    assert any("for_corporation" in c for c in contracts)
    assert any(c["type"] == "auction" and c["buyout"] == 0 for c in contracts)
    assert any(c["type"] == "auction" and c["buyout"] > 0 for c in contracts)
    assert sum(c["title"] == "" for c in contracts) > 0.7 * len(contracts)
    assert any(c["start_location_id"] > 2**32 for c in contracts)
    noisy = [c["volume"] for c in contracts if isinstance(c["volume"], float)]
    assert any(len(repr(v).split(".")[1]) >= 10 for v in noisy)  # e.g. 0.22000000000000006


def test_contract_type_mix() -> None:
    world = SimWorld(seed=11, regions={FORGE: 10_000}, start=START)
    counts = Counter(c["type"] for c in world.contracts(FORGE))
    share = {kind: n / 10_000 for kind, n in counts.items()}
    assert share["item_exchange"] == pytest.approx(0.60, abs=0.03)
    assert share["auction"] == pytest.approx(0.10, abs=0.02)
    assert share["courier"] == pytest.approx(0.25, abs=0.03)
    assert share["loan"] + share["unknown"] == pytest.approx(0.05, abs=0.015)
    assert share["loan"] > 0
    assert share["unknown"] > 0


def test_items_match_real_shapes() -> None:
    world = SimWorld(seed=4, regions={FORGE: 4000}, start=START)
    record_ids: list[int] = []
    flavours: Counter[str] = Counter()
    for contract in world.contracts(FORGE):
        items = world.items(contract["contract_id"])
        assert items is not None
        if contract["type"] not in ("item_exchange", "auction"):
            assert items == []
            continue
        assert items
        assert [i["record_id"] for i in items] == sorted(i["record_id"] for i in items)
        for item in items:
            keys = set(item)
            assert {"record_id", "type_id", "quantity", "is_included"} <= keys <= SAMPLE_ITEM_KEYS
            assert item["quantity"] > 0
            record_ids.append(item["record_id"])
            assert ("item_id" in item) == item["is_included"]
            if item.get("is_blueprint_copy"):
                assert item["is_blueprint_copy"] is True
                assert {"runs", "material_efficiency", "time_efficiency"} <= keys
                assert item["runs"] > 0
                flavours["bpc"] += 1
            elif "material_efficiency" in item:
                assert "runs" not in item
                assert "time_efficiency" in item
                flavours["bpo"] += 1
            else:
                assert "runs" not in item
            if not item["is_included"]:
                flavours["requested"] += 1
        if all(not i["is_included"] for i in items):
            assert contract["volume"] == 0
            flavours["wtb"] += 1
    assert len(record_ids) == len(set(record_ids))
    assert all(r > 2**31 for r in record_ids)
    assert flavours["bpc"] > 0
    assert flavours["bpo"] > 0
    assert flavours["requested"] > 0
    assert flavours["wtb"] > 0


def test_item_count_distribution() -> None:
    world = SimWorld(seed=9, regions={FORGE: 20_000}, start=START)
    truth = world.truth()["regions"][str(FORGE)]
    counts = sorted(len(c["items"]) for c in truth.values() if c["type"] == "item_exchange")
    assert counts[len(counts) // 2] <= 3
    assert 10 <= counts[int(len(counts) * 0.99)] <= 25
    assert counts[-1] <= 420
    assert counts[0] >= 1


def test_big_contracts_have_more_than_a_page_of_items() -> None:
    world = small_world(big_contracts=3)
    big = {
        int(cid): len(c["items"])
        for cid, c in world.truth()["regions"][str(FORGE)].items()
        if len(c["items"]) > 1000
    }
    assert len(big) == 3
    assert all(1200 <= n <= 2500 for n in big.values())
    for cid, n in big.items():
        assert world.contract_type(cid) == "item_exchange"
        assert len(world.items(cid) or []) == n
    domain = world.truth()["regions"][str(DOMAIN)]
    assert all(len(c["items"]) <= 420 for c in domain.values())


def test_bids_shape_and_growth() -> None:
    world = small_world(churn_per_generation=0)
    auctions = [c["contract_id"] for c in of_type(world, FORGE, "auction")]
    for cid in of_type(world, FORGE, "courier")[:5]:
        assert world.bids(cid["contract_id"]) == []
    before = {cid: world.bids(cid) or [] for cid in auctions}
    assert {len(b) for b in before.values()} <= set(range(6))
    assert any(before.values())
    assert any(not b for b in before.values())
    for _ in range(20):
        world.advance()
    grown = 0
    for cid in auctions:
        bids = world.bids(cid) or []
        assert bids[: len(before[cid])] == before[cid]
        grown += len(bids) > len(before[cid])
        for bid in bids:
            assert set(bid) == SAMPLE_BID_KEYS
            assert ISO_Z.fullmatch(bid["date_bid"])
        assert [b["amount"] for b in bids] == sorted(b["amount"] for b in bids)
        assert [b["date_bid"] for b in bids] == sorted(b["date_bid"] for b in bids)
        assert len({b["bid_id"] for b in bids}) == len(bids)
    assert grown > 0


def test_advance_churns_contracts() -> None:
    world = small_world(churn_per_generation=20)
    before = world.truth()
    old = {r: set(c) for r, c in before["regions"].items()}
    max_old = max(int(cid) for ids in old.values() for cid in ids)
    removed_cid = next(iter(old[str(FORGE)]))
    assert world.advance() == 1
    assert world.generation == 1
    assert world.last_modified(FORGE) == START + timedelta(seconds=1800)
    after = world.truth()
    assert after["generation"] == 1
    for region, ids in old.items():
        now = set(after["regions"][region])
        assert len(ids - now) == 20
        added = now - ids
        assert 18 <= len(added) <= 22
        assert all(int(cid) > max_old for cid in added)
    gone = old[str(FORGE)] - set(after["regions"][str(FORGE)])
    for cid in gone:
        assert world.items(int(cid)) is None
        assert world.bids(int(cid)) is None
    assert world.items(1) is None
    assert removed_cid  # the set was not empty
    world.advance(now=START + timedelta(hours=5))
    assert world.last_modified() == START + timedelta(hours=5)


def test_truth_matches_reads() -> None:
    world = small_world()
    truth = world.truth()
    assert truth["generation"] == 0
    assert set(truth["regions"]) == {str(FORGE), str(DOMAIN)}
    region = truth["regions"][str(DOMAIN)]
    assert [int(c) for c in region] == [c["contract_id"] for c in world.contracts(DOMAIN)]
    for cid, entry in region.items():
        assert entry["type"] == world.contract_type(int(cid))
        assert entry["items"] == [i["record_id"] for i in world.items(int(cid)) or []]
        assert entry["bids"] == [b["bid_id"] for b in world.bids(int(cid)) or []]


# -- HTTP routes ------------------------------------------------------------------------------


async def test_universe_regions_in_all_forms() -> None:
    world = small_world()
    async with client(make_app(world)) as http:
        for path in ("/universe/regions", "/v1/universe/regions/", "/latest/universe/regions"):
            response = await http.get(path)
            assert response.status_code == 200
            regions = response.json()
            assert {FORGE, DOMAIN} < set(regions)
            assert regions == world.universe_region_ids()
            assert response.headers["expires"].endswith("11:05:00 GMT")


async def test_legacy_and_unversioned_routes_agree() -> None:
    world = small_world()
    cid = of_type(world, FORGE, "auction")[0]["contract_id"]
    async with client(make_app(world)) as http:
        for route in (f"contracts/public/{FORGE}", f"contracts/public/items/{cid}"):
            bodies = set()
            for prefix in ("", "/v1", "/latest"):
                for slash in ("", "/"):
                    response = await http.get(f"{prefix}/{route}{slash}", params={"page": 1})
                    assert response.status_code == 200, (prefix, slash)
                    bodies.add(response.content)
            assert len(bodies) == 1
        response = await http.get(f"/v1/contracts/public/bids/{cid}/")
        assert response.status_code == 200
        assert response.json() == world.bids(cid)


async def test_contract_pages_and_headers() -> None:
    world = small_world()
    wall = FakeWall(START + timedelta(seconds=600))
    async with client(make_app(world, wall=wall)) as http:
        rows: list[dict[str, Any]] = []
        for page in (1, 2, 3):
            response = await http.get(f"/contracts/public/{FORGE}", params={"page": page})
            assert response.status_code == 200
            headers = response.headers
            assert headers["x-pages"] == "3"
            assert headers["content-type"] == "application/json; charset=UTF-8"
            assert STRONG_ETAG.fullmatch(headers["etag"])
            assert headers["last-modified"] == imf_date(START)
            assert parsedate_to_datetime(headers["last-modified"]) == START
            expires = parsedate_to_datetime(headers["expires"])
            assert expires == START + timedelta(seconds=1800)
            assert headers["cache-control"] == "public, max-age=1200"
            assert headers["x-esi-error-limit-remain"] == "100"
            assert 0 < int(headers["x-esi-error-limit-reset"]) <= 60
            uuid.UUID(headers["x-esi-request-id"])
            rows.extend(response.json())
        assert [len(rows[i : i + 1000]) for i in (0, 1000, 2000)] == [1000, 1000, 500]
        assert rows == world.contracts(FORGE)
        first = await http.get(f"/contracts/public/{FORGE}")
        assert first.json() == rows[:1000]
        etags = set()
        for page in (1, 2, 3):
            etags.add((await http.get(f"/contracts/public/{FORGE}?page={page}")).headers["etag"])
        assert len(etags) == 3


async def test_page_and_region_errors() -> None:
    world = small_world(regions={FORGE: 1500, 10000032: 0})
    async with client(make_app(world)) as http:
        response = await http.get(f"/contracts/public/{FORGE}", params={"page": 3})
        assert response.status_code == 404
        assert response.json() == {"error": "Requested page does not exist!"}
        for bad in ("0", "-1", "abc", "1.5", ""):
            response = await http.get(f"/contracts/public/{FORGE}", params={"page": bad})
            assert response.status_code == 400, bad
            assert isinstance(response.json()["error"], str)
        response = await http.get("/contracts/public/99999999")
        assert response.status_code == 404
        assert response.json() == {"error": "Region not found"}
        response = await http.get("/contracts/public/forge")
        assert response.status_code == 400
        for empty in (10000032, 10000001):  # a world region without contracts; a listed one
            response = await http.get(f"/contracts/public/{empty}")
            assert response.status_code == 200
            assert response.json() == []
            assert response.headers["x-pages"] == "1"
        response = await http.get("/no/such/route")
        assert response.status_code == 404
        assert "x-esi-error-limit-remain" in response.headers


async def test_etag_gives_304_until_content_changes() -> None:
    world = small_world()
    async with client(make_app(world)) as http:
        url = f"/contracts/public/{FORGE}?page=2"
        first = await http.get(url)
        etag = first.headers["etag"]
        for sent in (etag, f"W/{etag}", f'"nope", {etag}'):
            again = await http.get(url, headers={"If-None-Match": sent})
            assert again.status_code == 304
            assert again.content == b""
            for header in ("etag", "expires", "last-modified", "cache-control"):
                assert again.headers[header] == first.headers[header]
            assert "x-esi-error-limit-remain" in again.headers
        stale = await http.get(url, headers={"If-None-Match": '"something-else"'})
        assert stale.status_code == 200
        await http.post("/_sim/advance")
        changed = await http.get(url, headers={"If-None-Match": etag})
        assert changed.status_code == 200
        assert changed.headers["etag"] != etag
        assert changed.headers["last-modified"] != first.headers["last-modified"]
        stats = (await http.get("/_sim/stats")).json()
        assert stats["not_modified"] == 3
        assert stats["requests"]["contracts"]["304"] == 3
        assert stats["error_limit"]["remain"] == 100


async def test_items_and_bids_routes() -> None:
    world = small_world(big_contracts=1)
    big = next(
        int(cid)
        for cid, c in world.truth()["regions"][str(FORGE)].items()
        if len(c["items"]) > 1000
    )
    auction = of_type(world, FORGE, "auction")[0]["contract_id"]
    courier = of_type(world, FORGE, "courier")[0]["contract_id"]
    async with client(make_app(world)) as http:
        first = await http.get(f"/contracts/public/items/{big}")
        pages = int(first.headers["x-pages"])
        assert pages in (2, 3)
        rows = list(first.json())
        for page in range(2, pages + 1):
            rows.extend((await http.get(f"/contracts/public/items/{big}?page={page}")).json())
        assert rows == world.items(big)
        past = await http.get(f"/contracts/public/items/{big}?page={pages + 1}")
        assert past.status_code == 404

        items = await http.get(f"/contracts/public/items/{auction}")
        assert items.status_code == 200
        lm = parsedate_to_datetime(items.headers["last-modified"])
        assert parsedate_to_datetime(items.headers["expires"]) - lm == timedelta(hours=1)
        bids = await http.get(f"/contracts/public/bids/{auction}")
        assert bids.status_code == 200
        assert bids.json() == world.bids(auction)
        lm = parsedate_to_datetime(bids.headers["last-modified"])
        assert parsedate_to_datetime(bids.headers["expires"]) - lm == timedelta(seconds=300)

        none = await http.get(f"/contracts/public/items/{courier}")
        assert none.status_code == 200
        assert none.json() == []
        assert none.headers["x-pages"] == "1"

        for route in ("items", "bids"):
            gone = await http.get(f"/contracts/public/{route}/123")
            assert gone.status_code == 204
            assert gone.content == b""
            assert "expires" in gone.headers
            assert "etag" not in gone.headers
            assert gone.headers["x-esi-error-limit-remain"] == "99"  # only the 404 above


async def test_delisted_contract_answers_204() -> None:
    world = small_world(churn_per_generation=100)
    async with client(make_app(world)) as http:
        listed = {c["contract_id"] for c in world.contracts(FORGE)}
        assert (await http.post("/_sim/advance")).json() == {"generation": 1}
        gone = sorted(listed - {c["contract_id"] for c in world.contracts(FORGE)})
        assert len(gone) == 100
        for cid in gone[:10]:
            for route in ("items", "bids"):
                response = await http.get(f"/contracts/public/{route}/{cid}")
                assert response.status_code == 204


async def test_error_limit_counts_down_to_420() -> None:
    clock = FakeClock()
    world = small_world()
    async with client(make_app(world, clock=clock)) as http:
        remains = []
        for _ in range(100):
            response = await http.get(f"/contracts/public/{FORGE}?page=0")
            assert response.status_code == 400
            remains.append(int(response.headers["x-esi-error-limit-remain"]))
        assert remains == list(range(99, -1, -1))
        for url in (f"/contracts/public/{FORGE}", "/universe/regions", "/contracts/public/items/1"):
            limited = await http.get(url)
            assert limited.status_code == 420
            assert limited.json()["error"].startswith(
                "This software has exceeded the error limit for ESI."
            )
            assert limited.headers["x-esi-error-limit-remain"] == "0"
        clock.now += 30
        assert (await http.get(f"/contracts/public/{FORGE}")).status_code == 420
        stats = (await http.get("/_sim/stats")).json()
        assert stats["error_limit"]["limited"] is True
        assert stats["requests"]["contracts"]["420"] == 2
        clock.now += 31
        recovered = await http.get(f"/contracts/public/{FORGE}")
        assert recovered.status_code == 200
        assert recovered.headers["x-esi-error-limit-remain"] == "100"
        assert recovered.headers["x-esi-error-limit-reset"] == "60"


async def test_only_errors_count_against_the_limit() -> None:
    world = small_world()
    async with client(make_app(world)) as http:
        ok = await http.get(f"/contracts/public/{FORGE}")
        await http.get(f"/contracts/public/{FORGE}", headers={"If-None-Match": ok.headers["etag"]})
        await http.get("/contracts/public/items/5")  # 204
        response = await http.get(f"/contracts/public/{FORGE}?page=9")  # 404
        assert response.headers["x-esi-error-limit-remain"] == "99"
        reset = await http.post("/_sim/reset-error-limit")
        assert reset.json()["remain"] == 100


async def test_auto_advance_when_expired() -> None:
    world = small_world()
    wall = FakeWall(START + timedelta(seconds=60))
    async with client(make_app(world, wall=wall, auto_advance=True)) as http:
        await http.get(f"/contracts/public/{FORGE}")
        assert world.generation == 0
        wall.now = START + timedelta(seconds=1800)
        response = await http.get(f"/contracts/public/{FORGE}")
        assert world.generation == 1
        assert parsedate_to_datetime(response.headers["last-modified"]) == wall.now
        assert response.headers["cache-control"] == "public, max-age=1800"
        await http.get(f"/contracts/public/{FORGE}")
        assert world.generation == 1


async def test_admin_routes() -> None:
    world = small_world()
    async with client(make_app(world)) as http:
        truth = (await http.get("/_sim/truth")).json()
        assert truth == world.truth()
        await http.get("/universe/regions")
        await http.get(f"/contracts/public/{FORGE}")
        await http.get("/contracts/public/items/1")
        await http.get("/contracts/public/bids/1")
        stats = (await http.get("/_sim/stats")).json()
        assert stats["by_route"] == {
            "regions": 1,
            "contracts": 1,
            "items": 1,
            "bids": 1,
            "other": 0,
        }
        assert stats["requests"]["items"] == {"204": 1}
        assert stats["total"] == 4
        assert stats["generation"] == 0
        assert stats["error_limit"]["remain"] == 100
        reset = (await http.post("/_sim/reset-stats")).json()
        assert reset["total"] == 0
        assert (await http.post("/_sim/advance")).json() == {"generation": 1}
        assert (await http.get("/_sim/truth")).json()["generation"] == 1
        assert (await http.get("/_sim/stats")).json()["total"] == 0
        bad = await http.post("/_sim/faults", json={"html_5xx": {"probability": 2}})
        assert bad.status_code == 422


async def test_a_forge_sized_region_pages_completely() -> None:
    world = SimWorld(seed=3, regions={FORGE: 35_000}, start=START)
    seen: set[int] = set()
    async with client(make_app(world)) as http:
        for page in range(1, 36):
            response = await http.get(f"/contracts/public/{FORGE}?page={page}")
            assert response.status_code == 200
            assert response.headers["x-pages"] == "35"
            seen.update(c["contract_id"] for c in response.json())
    assert len(seen) == 35_000


# -- faults -----------------------------------------------------------------------------------


async def test_html_5xx_fault() -> None:
    world = small_world()
    async with client(make_app(world)) as http:
        await set_faults(http, html_5xx={"count": 3})
        statuses = []
        for _ in range(4):
            response = await http.get(f"/contracts/public/{FORGE}")
            statuses.append(response.status_code)
            if response.status_code >= 500:
                assert response.text.startswith("<html>")
                assert response.text.rstrip().endswith("</html>")
                assert response.headers["content-type"].startswith("text/html")
                with pytest.raises(json.JSONDecodeError):
                    json.loads(response.text)
        assert set(statuses[:3]) <= {502, 503, 504}
        assert statuses[3] == 200
        assert response.headers["x-esi-error-limit-remain"] == "97"
        stats = (await http.get("/_sim/stats")).json()
        assert stats["faults_fired"] == {"html_5xx": 3}


async def test_error_420_storm() -> None:
    world = small_world()
    async with client(make_app(world)) as http:
        await set_faults(http, error_420={"count": 2})
        storm = [await http.get(f"/contracts/public/{FORGE}") for _ in range(3)]
        assert [r.status_code for r in storm] == [420, 420, 200]
        assert "error limit" in storm[0].json()["error"]
        assert storm[0].headers["x-esi-error-limit-remain"] == "0"
        assert storm[2].headers["x-esi-error-limit-remain"] == "100"  # a storm is not an error


async def test_rate_429_fault() -> None:
    world = small_world()
    async with client(make_app(world)) as http:
        await set_faults(http, rate_429={"count": 1, "retry_after": 7})
        limited = await http.get("/universe/regions")
        assert limited.status_code == 429
        assert limited.headers["retry-after"] == "7"
        assert "error" in limited.json()
        assert (await http.get("/universe/regions")).status_code == 200


async def test_timeout_fault_stalls() -> None:
    world = small_world()
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    async with client(make_app(world, sleep=fake_sleep)) as http:
        await set_faults(http, timeout={"seconds": 12.5, "count": 1})
        response = await http.get(f"/contracts/public/{FORGE}")
        assert response.status_code == 200
        assert slept == [12.5]
    async with client(make_app(small_world())) as http:
        await set_faults(http, timeout={"seconds": 5})
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(http.get(f"/contracts/public/{FORGE}"), timeout=0.2)


async def test_malformed_json_fault() -> None:
    world = small_world()
    async with client(make_app(world)) as http:
        await set_faults(http, malformed_json={"count": 1})
        broken = await http.get(f"/contracts/public/{FORGE}")
        assert broken.status_code == 200
        with pytest.raises(json.JSONDecodeError):
            json.loads(broken.content)
        fine = await http.get(f"/contracts/public/{FORGE}")
        assert fine.json() == world.contracts(FORGE)[:1000]
        assert len(broken.content) < len(fine.content)


async def test_items_gone_fault() -> None:
    world = small_world()
    auctions = [c["contract_id"] for c in of_type(world, FORGE, "auction")]
    async with client(make_app(world)) as http:
        await set_faults(http, items_gone={"contract_ids": auctions[:1], "statuses": [404]})
        for route in ("items", "bids"):
            response = await http.get(f"/contracts/public/{route}/{auctions[0]}")
            assert response.status_code == 404
            assert response.json() == {"error": "Contract not found!"}
        assert (await http.get(f"/contracts/public/items/{auctions[1]}")).status_code == 200
        await set_faults(http, items_gone={"contract_ids": auctions[:1], "statuses": [403]})
        response = await http.get(f"/contracts/public/items/{auctions[0]}")
        assert response.status_code == 403
        assert "error" in response.json()
        await set_faults(http, items_gone={"probability": 0.5})
        statuses = Counter(
            [(await http.get(f"/contracts/public/items/{cid}")).status_code for cid in auctions]
        )
        assert set(statuses) == {200, 204, 403, 404}
        assert (await http.get(f"/contracts/public/{FORGE}")).status_code == 200
        assert (await http.delete("/_sim/faults")).status_code == 200
        assert (await http.get(f"/contracts/public/items/{auctions[0]}")).status_code == 200


async def test_page_shift_changes_last_modified_mid_sweep() -> None:
    world = small_world()
    async with client(make_app(world)) as http:
        await set_faults(http, page_shift={"count": 1})
        pages = [await http.get(f"/contracts/public/{FORGE}?page={n}") for n in (1, 2, 3)]
        assert [p.status_code for p in pages] == [200, 200, 200]
        modified = [p.headers["last-modified"] for p in pages]
        assert modified[0] != modified[1]
        assert modified[1] == modified[2]
        assert world.generation == 1
        again = await http.get(f"/contracts/public/{FORGE}?page=1")
        assert again.headers["last-modified"] == modified[1]
        stats = (await http.get("/_sim/stats")).json()
        assert stats["faults_fired"] == {"page_shift": 1}
        assert stats["generation"] == 1


async def test_fault_routes_limit_faults() -> None:
    world = small_world()
    auction = of_type(world, FORGE, "auction")[0]["contract_id"]
    async with client(make_app(world)) as http:
        await set_faults(http, routes=["items"], html_5xx={"statuses": [503]})
        assert (await http.get(f"/contracts/public/{FORGE}")).status_code == 200
        assert (await http.get(f"/contracts/public/bids/{auction}")).status_code == 200
        assert (await http.get(f"/contracts/public/items/{auction}")).status_code == 503
        await set_faults(http, routes=["items"], html_5xx={"routes": ["bids"], "statuses": [502]})
        assert (await http.get(f"/contracts/public/items/{auction}")).status_code == 200
        assert (await http.get(f"/contracts/public/bids/{auction}")).status_code == 502
        config = (await http.get("/_sim/faults")).json()
        assert config["html_5xx"]["routes"] == ["bids"]
        cleared = (await http.delete("/_sim/faults")).json()
        assert cleared["html_5xx"] is None
        assert (await http.get(f"/contracts/public/bids/{auction}")).status_code == 200


async def test_probabilistic_faults_replay_with_the_seed() -> None:
    config = FaultConfig.model_validate(
        {"html_5xx": {"probability": 0.3}, "malformed_json": {"probability": 0.2}}
    )

    async def run(seed: int) -> list[tuple[int, bytes]]:
        world = small_world(seed)
        async with client(make_app(world)) as http:
            await http.post("/_sim/faults", json=config.model_dump(exclude_none=True))
            out = []
            for _ in range(40):
                response = await http.get(f"/contracts/public/{DOMAIN}")
                out.append((response.status_code, response.content[:20]))
            return out

    first, second, other = await run(1), await run(1), await run(2)
    assert first == second
    assert first != other
    assert {status for status, _ in first} > {200}


# -- entry point ------------------------------------------------------------------------------


def test_parse_regions() -> None:
    assert sim_main.parse_regions("10000002:3000,10000043:1000") == {
        10000002: 3000,
        10000043: 1000,
    }
    assert sim_main.parse_regions(" 10000002 : 5 , ") == {10000002: 5}
    for bad in ("10000002", "a:b", "10000002:-1"):
        with pytest.raises(ValueError, match=r"REGION:COUNT|non-negative"):
            sim_main.parse_regions(bad)


def test_run_serves_the_world(monkeypatch: pytest.MonkeyPatch) -> None:
    served: dict[str, Any] = {}

    def fake_run(app: FastAPI, **kwargs: Any) -> None:
        served["app"] = app
        served.update(kwargs)

    monkeypatch.setattr(uvicorn, "run", fake_run)
    sim_main.run(
        "127.0.0.1",
        8123,
        seed=3,
        regions={FORGE: 10},
        churn_per_generation=2,
        cache_seconds=60,
        auto_advance=True,
        big_contracts=0,
    )
    assert served["host"] == "127.0.0.1"
    assert served["port"] == 8123
    assert served["log_level"] == "warning"
    world = served["app"].state.world
    assert isinstance(world, SimWorld)
    assert world.seed == 3
    assert len(world.contracts(FORGE)) == 10
    assert world.cache_seconds == 60
    assert served["app"].state.handler.auto_advance is True
