"""The HTML pages over HTTP, on real PostgreSQL: content, escaping, errors, caching, paging."""

from __future__ import annotations

import asyncio
import hashlib
import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import asyncpg
import httpx
import pytest
from sqlalchemy import event

from common.db import asyncpg_dsn
from common.derived_fields import DERIVE_ALL
from services.api.app import create_app
from services.api.web.rendering import STATIC_DIR
from tests.integration.test_api_support import (
    BASE_TIME,
    DOMAIN,
    THE_FORGE,
    api_client,
    api_settings,
    contract,
    item,
    seed,
)
from tests.support.places import (
    AMARR_VIII,
    JITA,
    JITA_44,
    JITA_KEEPSTAR,
    load_places,
)

HOSTILE_TITLES = (
    "<script>alert('title')</script>",
    '"><img src=x onerror=alert(1)>',
    "\u202eevil\u202c RTL title \u05e9\u05dc\u05d5\u05dd",
    "Rifter \U0001f680\U0001f525 fitted",
)


def sweep(region_id: int, minutes_after_base: int = 60) -> dict[str, object]:
    at = BASE_TIME + timedelta(minutes=minutes_after_base)
    return {
        "region_id": region_id,
        "generation": at - timedelta(minutes=3),
        "swept_at": at,
        "contract_count": 1,
        "contract_ids": [],
    }


def result_links(page: httpx.Response) -> list[int]:
    """The contract ids of the table, in order."""
    return [int(found) for found in re.findall(r'href="/contracts/(\d+)"', page.text)]


def summary_link(page: httpx.Response) -> str:
    """The fragment of the tabs' counts and the data's freshness that the table loads."""
    found = re.search(r'<div id="summary" class="summary" hx-get="([^"]+)"', page.text)
    assert found is not None, page.text
    return found.group(1).replace("&amp;", "&")


def link(page: httpx.Response, rel: str) -> str | None:
    found = re.search(rf'<a rel="{rel}" href="([^"]+)"', page.text)
    return None if found is None else found.group(1).replace("&amp;", "&")


# --- the table ----------------------------------------------------------------------------


async def test_table_shows_contracts_with_tabs_counts_and_freshness(database_url: str) -> None:
    await seed(
        database_url,
        [
            contract(1, title="Raven, fitted"),
            contract(2, type="auction", buyout=Decimal("250000000.00")),
            contract(3, type="courier", reward=Decimal("5000000.00"), volume=1000.0),
            contract(4, status="gone"),
        ],
        sweeps=[sweep(THE_FORGE)],
    )
    async with api_client(api_settings(database_url)) as client:
        page = await client.get("/")
        couriers = await client.get("/", params={"type": "courier"})
        summary_href = summary_link(page)
        summary = await client.get(summary_href, headers={"HX-Request": "true"})
        summary_page = await client.get(summary_href)
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    assert result_links(page) == [3, 2, 1]
    assert "Raven, fitted" in page.text
    assert "First sweep in progress" not in page.text
    # The counts and the freshness come after the table, from a fragment of their own.
    assert 'class="count"' not in page.text
    assert "data as of" not in page.text
    assert summary_href == "/tab-counts"
    assert summary.status_code == 200
    assert summary.text.lstrip().startswith('<div id="summary"')
    assert "hx-trigger" not in summary.text  # loaded once, not again
    tabs = dict(re.findall(r">([A-Za-z ]+) <span class=\"count\">(\d+)</span>", summary.text))
    assert tabs == {"All": "3", "Item exchange": "1", "Auctions": "1", "Couriers": "1"}
    assert f"Region {THE_FORGE}: data as of" in summary.text
    # Without JavaScript the same counts are a page, linked from the table.
    assert "<html" in summary_page.text
    assert 'href="/?type=courier"' in summary_page.text
    assert f"Region {THE_FORGE}: data as of" in summary_page.text
    assert "5,000,000" in page.text  # a courier's reward in the price column of every type

    assert result_links(couriers) == [3]
    assert "Reward/m³" in couriers.text
    assert "5,000" in couriers.text  # 5,000,000 ISK over 1000 m3
    assert "Courier: Location 60003760 → Location 60003760" in couriers.text


async def test_no_completed_sweep_says_first_sweep_in_progress(database_url: str) -> None:
    async with api_client(api_settings(database_url)) as client:
        page = await client.get("/")
    assert page.status_code == 200
    assert "First sweep in progress" in page.text
    assert "<table" not in page.text


async def test_an_empty_result_after_a_sweep_says_nothing_matches(database_url: str) -> None:
    await seed(database_url, [contract(1)], sweeps=[sweep(THE_FORGE)])
    async with api_client(api_settings(database_url)) as client:
        page = await client.get("/", params={"min_price": "5000000000"})
    assert "No contract matches these filters." in page.text
    assert "First sweep in progress" not in page.text


async def test_headers_match_the_json_routes_and_forbid_inline_code(database_url: str) -> None:
    await seed(database_url, [contract(1)], sweeps=[sweep(THE_FORGE)])
    async with api_client(api_settings(database_url, cache_max_age_s=15)) as client:
        page = await client.get("/")
        again = await client.get("/", headers={"If-None-Match": page.headers["etag"]})
        detail = await client.get("/contracts/1")
        regions = await client.get("/regions")
        summary = await client.get(summary_link(page), headers={"HX-Request": "true"})
        summary_again = await client.get(
            summary_link(page),
            headers={"HX-Request": "true", "If-None-Match": summary.headers["etag"]},
        )
    policy = page.headers["content-security-policy"]
    assert "unsafe-inline" not in policy
    assert "script-src 'self'" in policy
    assert page.headers["cache-control"] == "public, max-age=15, stale-while-revalidate=15"
    assert again.status_code == 304
    assert "HX-Request" in page.headers["vary"]
    for other in (detail, regions, summary):
        assert other.headers["cache-control"].startswith("public, max-age=15")
        assert other.headers["etag"].startswith('W/"')
        assert "unsafe-inline" not in other.headers["content-security-policy"]
    assert summary_again.status_code == 304
    assert "HX-Request" in summary.headers["vary"]
    # No inline script or style anywhere in the markup.
    for body in (page.text, detail.text, regions.text, summary.text):
        assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", body) is None
        assert "<style" not in body
        assert " style=" not in body
        assert re.search(r"\son[a-z]+=", body) is None


async def test_an_htmx_request_gets_the_results_block_and_the_url_to_show(
    database_url: str,
) -> None:
    await seed(database_url, [contract(1), contract(2, price=Decimal("5"))], sweeps=[sweep(1)])
    async with api_client(api_settings(database_url)) as client:
        fragment = await client.get(
            "/", params={"title": "", "min_price": "10"}, headers={"HX-Request": "true"}
        )
        full = await client.get("/", params={"min_price": "10"})
    assert fragment.status_code == 200
    assert fragment.text.lstrip().startswith('<section id="results"')
    assert "<html" not in fragment.text
    assert 'id="state" class="state" hx-swap-oob="true"' in fragment.text
    assert fragment.headers["hx-push-url"] == "/?min_price=10"
    assert result_links(fragment) == [1]
    assert "<html" in full.text
    assert result_links(full) == [1]


async def test_a_form_sent_without_javascript_redirects_to_its_clean_url(
    database_url: str,
) -> None:
    async with api_client(api_settings(database_url)) as client:
        sent = await client.get("/", params={"title": "", "min_price": "10", "max_price": ""})
    assert sent.status_code == 303
    assert sent.headers["location"] == "/?min_price=10"


async def _derive_fields(database_url: str) -> None:
    """What the persister derives when contracts land (``seed`` writes the tables directly)."""
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await connection.execute(DERIVE_ALL)
    finally:
        await connection.close()


async def test_the_search_box_searches_titles_and_item_names(database_url: str) -> None:
    await seed(
        database_url,
        [contract(1, title="Raven Navy Issue"), contract(2, title="Tritanium"), contract(3)],
        [item(31, 3, 638)],  # a Raven
        sweeps=[sweep(THE_FORGE)],
    )
    await _derive_fields(database_url)
    async with api_client(api_settings(database_url)) as client:
        page = await client.get("/", params={"q": "raven"})
    assert sorted(result_links(page)) == [1, 3]
    assert 'name="q"' in page.text
    assert 'value="raven"' in page.text


async def test_pages_forward_and_back_in_the_api_order(database_url: str) -> None:
    """Next and previous walk the same order as the JSON API, also across rows without a
    price (which come last in both orders)."""
    prices = [Decimal(p) if p else None for p in ("5", "9", "", "7", "1", "", "3", "8")]
    await seed(
        database_url,
        [contract(n + 1, price=price) for n, price in enumerate(prices)],
        sweeps=[sweep(THE_FORGE)],
    )
    for order in ("asc", "desc"):
        params = {"sort": "price", "order": order, "limit": "3"}
        async with api_client(api_settings(database_url)) as client:
            expected = [
                row["contract_id"]
                for row in (
                    await client.get("/v1/contracts", params={**params, "limit": 50})
                ).json()["items"]
            ]
            pages: list[list[int]] = []
            page = await client.get("/", params=params)
            while True:
                pages.append(result_links(page))
                forward = link(page, "next")
                if forward is None:
                    break
                page = await client.get(forward)
            assert [n for ids in pages for n in ids] == expected
            assert link(page, "prev") is not None
            backwards: list[list[int]] = [result_links(page)]
            while (back := link(page, "prev")) is not None:
                page = await client.get(back, headers={"HX-Request": "true"})
                assert page.status_code == 200, page.text
                backwards.append(result_links(page))
            assert "before=" not in page.headers["hx-push-url"]
        assert backwards[::-1] == pages, order


# --- picked filters: types and places by name ---------------------------------------------


def chips(page: httpx.Response) -> list[tuple[str, str, str, str]]:
    """Each picked filter of the form: its parameter, value, kind and name."""
    return re.findall(
        r'<span class="chip" data-param="([a-z_]+)">\s*<input type="hidden" name="[a-z_]+" '
        r'value="(\d+)">\s*<span class="chip-kind">([^<]+)</span> '
        r'<span class="chip-name">([^<]+)</span>',
        page.text,
    )


async def test_picked_type_and_places_are_shown_by_name_with_a_way_to_remove_them(
    database_url: str,
) -> None:
    await seed(
        database_url,
        [contract(1), contract(2, start_location_id=AMARR_VIII), contract(3)],
        [item(11, 1, 638), item(21, 2, 638)],  # Ravens
        sweeps=[sweep(THE_FORGE)],
    )
    await load_places(database_url)
    await _derive_fields(database_url)
    params = {"contains_type_id": "638", "system_id": str(JITA), "region_id": str(THE_FORGE)}
    async with api_client(api_settings(database_url)) as client:
        page = await client.get("/", params=params)
        fragment = await client.get("/", params=params, headers={"HX-Request": "true"})
        unknown = await client.get("/", params={"start_location_id": "1000000000042"})
    assert page.status_code == 200, page.text
    assert result_links(page) == [1]
    assert chips(page) == [
        ("contains_type_id", "638", "Holds", "Raven"),
        ("region_id", str(THE_FORGE), "Region", "The Forge"),
        ("system_id", str(JITA), "System", "Jita"),
    ]
    removals = re.findall(r'<a class="chip-remove" href="([^"]+)"', page.text)
    assert [dict(parse_qsl(urlsplit(href.replace("&amp;", "&")).query)) for href in removals] == [
        {"system_id": str(JITA), "region_id": str(THE_FORGE)},
        {"contains_type_id": "638", "system_id": str(JITA)},
        {"contains_type_id": "638", "region_id": str(THE_FORGE)},
    ]
    # The form's answer to a change swaps the chips too (the names come from the page).
    assert 'id="chosen" class="chosen" hx-boost="true"' in fragment.text
    assert chips(fragment) == chips(page)
    # No bare id fields any more: a place is picked by name.
    assert 'name="system_id" value=' not in page.text.replace('type="hidden" name="system_id"', "")
    assert 'id="place"' in page.text
    assert chips(unknown) == [
        ("start_location_id", "1000000000042", "Station", "Structure 1000000000042")
    ]


@pytest.mark.parametrize(
    ("text", "parameter", "value"),
    [
        ("Jita", "system_id", JITA),
        ("jita iv - moon 4", "start_location_id", JITA_44),
        ("forge", "region_id", THE_FORGE),
        ("Keepstar", "start_location_id", JITA_KEEPSTAR),
    ],
)
async def test_without_javascript_a_typed_place_becomes_its_best_match(
    database_url: str, text: str, parameter: str, value: int
) -> None:
    await load_places(database_url)
    async with api_client(api_settings(database_url)) as client:
        sent = await client.get(
            "/",
            params=[("place", text), ("region_id", str(DOMAIN)), ("min_price", "5"),
                    ("cursor", "abc"), ("q", "")],
        )  # fmt: skip
    assert sent.status_code == 303
    # The place replaces any other place filter; the other filters stay, paging restarts.
    assert dict(parse_qsl(urlsplit(sent.headers["location"]).query)) == {
        "min_price": "5",
        parameter: str(value),
    }


@pytest.mark.parametrize(
    ("text", "says"),
    [("Nowhere Prime", "no region, system or station"), ("%%", "two letters or digits")],
)
async def test_a_place_that_names_nothing_is_said_so_with_the_form_kept(
    database_url: str, text: str, says: str
) -> None:
    await load_places(database_url)
    async with api_client(api_settings(database_url)) as client:
        page = await client.get("/", params={"place": text, "min_price": "5"})
    assert page.status_code == 422
    assert "These filters cannot be used" in page.text
    assert says in page.text
    assert 'name="place" value="' in page.text
    assert 'name="min_price" value="5"' in page.text


async def test_the_form_keeps_filters_it_has_no_field_for(database_url: str) -> None:
    async with api_client(api_settings(database_url)) as client:
        page = await client.get(
            "/", params={"issuer_id": "90000001", "sort": "price", "cursor": "abc", "limit": "20"}
        )
    state = page.text.split('<div id="state" class="state">')[1].split("</div>")[0]
    assert re.findall(r'name="([a-z_]+)" value="([^"]*)"', state) == [
        ("issuer_id", "90000001"),
        ("sort", "price"),
        ("limit", "20"),
    ]


async def test_the_table_reads_only_what_it_shows(database_url: str) -> None:
    """The table costs its list and the names of its rows: no count (the tabs' counts come
    from /tab-counts), no sweep times (only an empty table asks), bids only on the auction
    tab. Counted by asyncpg's query logger on every connection of the app's pool."""
    await seed(database_url, [contract(1), contract(2, type="auction")], sweeps=[sweep(1)])
    statements: list[str] = []

    def log_statements(dbapi_connection: Any, _record: Any) -> None:
        driver = dbapi_connection.driver_connection
        driver.add_query_logger(lambda logged: statements.append(logged.query))

    app = create_app(api_settings(database_url))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client,
    ):
        event.listen(app.state.api.engine.sync_engine, "connect", log_statements)
        for params in ({}, {"type": "auction"}, {"min_price": "10"}):
            await client.get("/", params=params)  # statements prepared, types introspected
        read: dict[str, httpx.Response] = {}
        statements_of: dict[str, list[str]] = {}
        for name, params in (
            ("all", {}),
            ("auctions", {"type": "auction"}),
            ("empty", {"min_price": "1000000000"}),
        ):
            await asyncio.sleep(0)  # asyncpg calls its query loggers soon after, not at once
            statements.clear()
            read[name] = await client.get("/", params=params)
            assert read[name].status_code == 200, read[name].text
            await asyncio.sleep(0)
            statements_of[name] = list(statements)
    assert "No contract matches these filters." in read["empty"].text
    everything = statements_of["all"]
    assert len(everything) == 2, everything  # the list, the names of its rows
    assert not any("count(" in statement.lower() for statement in everything)
    assert not any("region_sweeps" in statement for statement in everything)
    assert len(statements_of["auctions"]) == 3, statements_of["auctions"]  # and the top bids
    assert any("region_sweeps" in statement for statement in statements_of["empty"])


# --- escaping -----------------------------------------------------------------------------


@pytest.mark.parametrize("title", HOSTILE_TITLES)
async def test_hostile_titles_are_text(database_url: str, title: str) -> None:
    await seed(database_url, [contract(7, title=title)], sweeps=[sweep(THE_FORGE)])
    async with api_client(api_settings(database_url)) as client:
        table = await client.get("/")
        found = await client.get("/", params={"title": title[:20]})
        detail = await client.get("/contracts/7")
    escaped = title.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    escaped = escaped.replace('"', "&#34;").replace("'", "&#39;")
    for page in (table, detail, found):
        assert page.status_code == 200
        assert escaped in page.text
        assert "<script>alert" not in page.text
        assert "<img src=x" not in page.text
    assert result_links(found) == [7]


# --- one contract -------------------------------------------------------------------------


async def test_detail_shows_what_you_get_and_give_with_blueprints_and_bids(
    database_url: str,
) -> None:
    await seed(
        database_url,
        [contract(5, type="auction", price=Decimal("100.00"), buyout=Decimal("900.00"))],
        [
            item(51, 5, 638, quantity=2),
            item(
                52,
                5,
                1001,
                is_blueprint_copy=True,
                runs=10,
                material_efficiency=9,
                time_efficiency=18,
            ),
            item(53, 5, 34, quantity=25000, is_included=False),
        ],
        [
            {"bid_id": 1, "contract_id": 5, "amount": Decimal("150.00"), "date_bid": BASE_TIME},
            {"bid_id": 2, "contract_id": 5, "amount": Decimal("175.50"), "date_bid": BASE_TIME},
        ],
    )
    async with api_client(api_settings(database_url)) as client:
        page = await client.get("/contracts/5")
        table = await client.get("/", params={"type": "auction"})
    assert page.status_code == 200
    you_get, you_give = page.text.split("<h2>You get</h2>")[1].split("<h2>You give</h2>")
    # Type names from the SDE catalog: 638 is the Raven, 34 Tritanium.
    assert "Raven" in you_get
    assert "BPC 10 runs, ME 9, TE 18" in you_get
    assert "Tritanium" not in you_get
    assert "Tritanium" in you_give
    assert "25,000" in you_give
    bids = page.text.split("<h2>Bids</h2>")[1]
    assert bids.index("175.50") < bids.index("150")
    assert "900" in page.text  # buyout
    assert "175.50" in table.text  # current bid column
    assert "Current bid" in table.text


async def test_a_gone_contract_is_marked_and_cached_longer(database_url: str) -> None:
    await seed(database_url, [contract(8, status="gone")])
    settings = api_settings(database_url, cache_max_age_s=10, gone_cache_max_age_s=3600)
    async with api_client(settings) as client:
        page = await client.get("/contracts/8")
    assert page.status_code == 200
    assert "Gone: no longer listed by ESI" in page.text
    assert "max-age=3600" in page.headers["cache-control"]


async def test_unknown_and_malformed_contract_ids_get_pages_that_say_so(
    database_url: str,
) -> None:
    async with api_client(api_settings(database_url)) as client:
        unknown = await client.get("/contracts/424242")
        malformed = await client.get("/contracts/abc")
        too_big = await client.get(f"/contracts/{2**63}")
    assert unknown.status_code == 404
    assert "text/html" in unknown.headers["content-type"]
    assert "never seen a public contract 424242" in unknown.text
    for page in (malformed, too_big):
        assert page.status_code == 422
        assert "a contract id is a whole number" in page.text
        assert page.headers["cache-control"] == "no-store"


async def test_bad_filters_get_a_422_page_naming_them(database_url: str) -> None:
    async with api_client(api_settings(database_url)) as client:
        not_a_number = await client.get("/", params={"min_price": "lots"})
        empty_range = await client.get("/", params={"min_price": "10", "max_price": "5"})
        unknown = await client.get("/", params={"colour": "red"})
        bad_cursor = await client.get("/", params={"cursor": "forged.cursor"})
    for page, says in (
        (not_a_number, "min_price"),
        (empty_range, "lower bound exceeds the upper bound"),
        (unknown, "colour"),
        (bad_cursor, "start again from the first page"),
    ):
        assert page.status_code == 422, page.text
        assert "These filters cannot be used" in page.text
        assert says in page.text
        assert 'name="min_price"' in page.text  # the form is still there to fix it


async def test_unknown_paths_are_pages_for_browsers_and_json_for_the_api(
    database_url: str,
) -> None:
    async with api_client(api_settings(database_url)) as client:
        browser = await client.get("/nowhere", headers={"Accept": "text/html"})
        api = await client.get("/v1/nowhere", headers={"Accept": "text/html"})
        plain = await client.get("/nowhere")
    assert browser.status_code == 404
    assert "there is no page at /nowhere" in browser.text
    assert api.status_code == plain.status_code == 404
    assert api.json()["error"]["code"] == plain.json()["error"]["code"] == "not_found"


# --- regions, docs, assets ----------------------------------------------------------------


async def test_regions_page_shows_every_region(database_url: str) -> None:
    await seed(
        database_url,
        [contract(1), contract(2, region_id=DOMAIN)],
        sweeps=[sweep(THE_FORGE)],
    )
    async with api_client(api_settings(database_url)) as client:
        page = await client.get("/regions")
    assert page.status_code == 200
    assert f"Region {THE_FORGE}" in page.text
    assert f"Region {DOMAIN}" in page.text
    assert "first sweep in progress" in page.text  # the Domain has none yet
    assert "3 min" in page.text  # the lag between ESI's listing and its sweep


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
async def test_api_docs_are_served_from_the_project(database_url: str, path: str) -> None:
    async with api_client(api_settings(database_url)) as client:
        page = await client.get(path)
        sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assets = [await client.get(source) for source in sources]
    assert page.status_code == 200
    assert sources
    assert all(source.startswith("/static/") for source in sources)
    assert all(asset.status_code == 200 and asset.content for asset in assets)
    assert "<script>" not in page.text
    assert 'data-openapi-url="/openapi.json"' in page.text


def test_vendored_assets_match_their_recorded_checksums() -> None:
    vendor = STATIC_DIR / "vendor"
    notice = (vendor / "NOTICE.md").read_text()
    recorded = re.findall(r"^\| `([^`]+)` \|.*\| `([0-9a-f]{64})` \|$", notice, re.MULTILINE)
    assert {name for name, _ in recorded} == {
        path.name for path in vendor.iterdir() if path.suffix in (".js", ".css")
    }
    for name, digest in recorded:
        assert hashlib.sha256(Path(vendor / name).read_bytes()).hexdigest() == digest, name


async def test_static_files_have_a_lifetime_and_a_validator(database_url: str) -> None:
    async with api_client(api_settings(database_url)) as client:
        script = await client.get("/static/vendor/htmx.min.js")
        missing = await client.get("/static/nothing.js")
    assert script.status_code == 200
    assert script.headers["cache-control"] == "public, max-age=3600"
    assert "etag" in script.headers
    assert missing.status_code == 404


def test_links_keep_the_state_and_restart_paging() -> None:
    from services.api.web.controls import Url  # noqa: PLC0415

    url = Url("/", [("type", "courier"), ("min_price", "5"), ("cursor", "abc")])
    changed = dict(parse_qsl(urlsplit(url.with_(sort="price", order="asc")).query))
    assert changed == {"type": "courier", "min_price": "5", "sort": "price", "order": "asc"}
    assert url.with_(type=None) == "/?min_price=5"
