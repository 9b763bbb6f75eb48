"""A trader's walk through the pages in a real browser, with JavaScript on and off."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Locator, Page, expect

from tests.browser.conftest import Watch, new_page, screenshot
from tests.browser.site import HOSTILE_TITLES
from tests.support.places import AMARR, DOMAIN


def contract_ids(page: Page) -> list[int]:
    hrefs = page.locator("#results tbody td.label a").evaluate_all(
        "links => links.map(link => link.getAttribute('href'))"
    )
    return [int(href.rsplit("/", 1)[1]) for href in hrefs]


def query_of(page: Page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def mark_document(page: Page) -> None:
    """A flag on the window that a full page load would clear."""
    page.evaluate("window.__stillTheSameDocument = true")


def same_document(page: Page) -> bool:
    return bool(page.evaluate("window.__stillTheSameDocument === true"))


def go_back(page: Page) -> None:
    """The browser's back button. The page reloads the URL it comes back to (its history
    keeps no stale snapshot of the table): wait for that load."""
    with page.expect_event("load"):
        page.go_back()


def test_filtering_updates_the_table_and_the_url_without_a_reload(
    browsing: tuple[Page, Watch],
) -> None:
    page, watch = browsing
    page.goto("/")
    expect(page.locator("#results tbody tr")).to_have_count(50)
    expect(page.locator("#summary .count").first).to_be_visible()  # loaded after the table
    expect(page.locator("#summary .freshness")).to_contain_text("The Forge: data as of")
    screenshot(page, "contracts-1280", docs_name="contracts")
    mark_document(page)

    page.fill("#f-min_price", "60000000")
    expect(page).to_have_url(re.compile(r"min_price=60000000"))
    expect(page.locator("#results tbody tr")).not_to_have_count(50)
    assert same_document(page)
    ids = contract_ids(page)
    assert ids
    assert all(n * 1_250_000 >= 60_000_000 for n in ids)

    page.fill("#search", "Lot 5")
    expect(page).to_have_url(re.compile(r"q=Lot\+5"))
    expect(page.locator("#results tbody tr")).to_have_count(
        len([n for n in ids if f"Lot {n:02d}".startswith("Lot 5")])
    )
    assert same_document(page)
    watch.assert_clean()


def test_tabs_sort_and_pages_forward_and_back(browsing: tuple[Page, Watch]) -> None:
    page, watch = browsing
    page.goto("/")
    mark_document(page)
    page.get_by_role("link", name=re.compile(r"^Couriers")).click()
    expect(page).to_have_url(re.compile(r"type=courier"))
    expect(page.locator("#results th", has_text="Reward/m³")).to_be_visible()
    couriers = contract_ids(page)
    assert couriers == sorted(couriers)  # newest first: a higher id was issued earlier

    page.get_by_role("link", name=re.compile(r"^Reward ISK")).click()
    expect(page).to_have_url(re.compile(r"sort=reward"))
    by_reward = contract_ids(page)
    assert by_reward == sorted(couriers, reverse=True)  # reward grows with the id here
    page.get_by_role("link", name=re.compile(r"^Reward ISK")).click()
    expect(page).to_have_url(re.compile(r"order=asc"))
    expect(page.locator("#results tbody td.label a").first).to_have_text("Lot 02")

    page.goto("/?limit=20&sort=price&order=asc&type=item_exchange")
    first = contract_ids(page)
    mark_document(page)
    page.get_by_role("link", name="Next →").click()
    expect(page).to_have_url(re.compile(r"cursor="))
    second = contract_ids(page)
    assert second
    assert not set(second) & set(first)
    assert same_document(page)
    page.get_by_role("link", name="← Previous").click()
    expect(page).not_to_have_url(re.compile(r"cursor=|before="))
    assert contract_ids(page) == first

    go_back(page)
    expect(page).to_have_url(re.compile(r"cursor="))
    expect(page.locator("#results tbody td.label a").first).to_have_text(f"Lot {second[0]:02d}")
    assert contract_ids(page) == second
    go_back(page)
    assert contract_ids(page) == first
    watch.assert_clean()


def test_back_after_a_filter_restores_the_unfiltered_table(
    browsing: tuple[Page, Watch],
) -> None:
    page, watch = browsing
    page.goto("/?type=auction")
    everything = contract_ids(page)
    page.fill("#f-max_price", "20000000")
    expect(page).to_have_url(re.compile(r"max_price=20000000"))
    expect(page.locator("#results tbody tr")).not_to_have_count(len(everything))
    go_back(page)
    expect(page).not_to_have_url(re.compile(r"max_price"))
    expect(page.locator("#results tbody tr")).to_have_count(len(everything))
    expect(page.locator("#f-max_price")).to_have_value("")
    watch.assert_clean()


def test_a_contract_opens_and_the_way_back_keeps_the_filters(
    browsing: tuple[Page, Watch],
) -> None:
    page, watch = browsing
    page.goto("/?q=Lot+01")
    page.get_by_role("link", name="Raven").click()  # its label: the ship it offers
    expect(page).to_have_url(re.compile(r"/contracts/1$"))
    you_get = page.locator("section.items", has=page.get_by_role("heading", name="You get"))
    you_give = page.locator("section.items", has=page.get_by_role("heading", name="You give"))
    expect(you_get).to_contain_text("Raven")
    expect(you_get).to_contain_text("BPC 10 runs, ME 9, TE 18")
    expect(you_give).to_contain_text("Tritanium")
    expect(you_give).to_contain_text("25,000")
    screenshot(page, "contract-1280")
    go_back(page)
    expect(page).to_have_url(re.compile(r"q=Lot\+01"))
    expect(page.locator("#search")).to_have_value("Lot 01")
    assert contract_ids(page) == [1]

    page.goto("/contracts/1")
    expect(page.locator("section.bids tbody tr").first).to_contain_text("3,500,000")
    page.goto("/contracts/70")
    expect(page.locator(".status-gone")).to_contain_text("Gone")
    watch.assert_clean()
    answer = page.goto("/contracts/999999")
    assert answer is not None
    assert answer.status == 404
    expect(page.get_by_role("heading", name=re.compile("No such contract"))).to_be_visible()


def test_a_shared_url_reloads_to_the_same_table(browsing: tuple[Page, Watch]) -> None:
    page, watch = browsing
    shared = "/?type=courier&sort=reward&order=asc&min_reward=1000000&limit=5"
    page.goto(shared)
    before = contract_ids(page)
    page.reload()
    assert contract_ids(page) == before
    assert query_of(page)["min_reward"] == ["1000000"]
    expect(page.locator("#f-min_reward")).to_have_value("1000000")
    watch.assert_clean()


def test_without_javascript_the_form_submits_with_get(browser: Browser, site: str) -> None:
    page, watch = new_page(browser, site, java_script_enabled=False)
    page.goto("/")
    page.fill("#f-min_price", "70000000")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"/\?min_price=70000000$"))  # empty fields dropped
    ids = contract_ids(page)
    assert ids
    assert all(n * 1_250_000 >= 70_000_000 for n in ids)
    page.get_by_role("link", name=re.compile(r"^Auctions")).click()
    expect(page).to_have_url(re.compile(r"type=auction"))
    assert set(contract_ids(page)) <= set(ids)
    expect(page.locator("#f-min_price")).to_have_value("70000000")
    watch.assert_clean()
    page.context.close()


def test_hostile_titles_are_shown_as_text(browsing: tuple[Page, Watch]) -> None:
    page, watch = browsing
    page.goto("/?sort=date_issued&order=desc&limit=10")
    labels = page.locator("#results tbody td.label a").all_inner_texts()
    for title in HOSTILE_TITLES:
        assert title.replace("\u202e", "").replace("\u202c", "") in [
            label.replace("\u202e", "").replace("\u202c", "") for label in labels
        ]
    assert page.locator("#results img").count() == 0
    assert page.locator("#results script").count() == 0
    page.get_by_role("link", name=HOSTILE_TITLES[1]).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(HOSTILE_TITLES[1])
    assert page.locator("main img").count() == 0
    watch.assert_clean()


def test_the_first_minutes_docs_and_regions_work_offline(browsing: tuple[Page, Watch]) -> None:
    page, watch = browsing
    page.goto("/regions")
    expect(page.locator("table.regions tbody tr")).to_have_count(2)
    page.goto("/docs")
    expect(page.get_by_text("List contracts").first).to_be_visible(timeout=20_000)
    page.goto("/redoc")
    expect(page.get_by_role("heading", name="List contracts")).to_be_visible(timeout=20_000)
    # ReDoc and Swagger UI may log their own warnings; only what was blocked matters here.
    assert watch.outside == [], watch.outside


def test_a_phone_sees_the_table(browser: Browser, site: str) -> None:
    page, watch = new_page(
        browser, site, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    page.goto("/")
    expect(page.locator("#results tbody tr").first).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, "the page scrolls sideways; only the table may"
    screenshot(page, "contracts-phone")
    page.locator("#place").press_sequentially("jita", delay=30)
    expect(suggestions(page, "place").first).to_be_visible()
    screenshot(page, "place-suggestions-phone")
    suggestions(page, "place").first.tap()
    expect(page.locator("#chosen .chip-name")).to_have_text(["Jita"])
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, "a picked place makes the page scroll sideways"
    screenshot(page, "contracts-picked-phone")
    watch.assert_clean()
    page.context.close()


def test_pages_have_no_serious_accessibility_violations(browsing: tuple[Page, Watch]) -> None:
    page, _ = browsing
    axe = Axe()
    for path in ("/", "/contracts/1", "/regions", "/?min_price=lots"):
        page.goto(path)
        results = axe.run(page)
        serious = [
            violation
            for violation in results.response["violations"]
            if violation["impact"] in ("serious", "critical")
        ]
        assert serious == [], (path, [v["id"] for v in serious])


def suggestions(page: Page, box: str) -> Locator:
    return page.locator(f"#{box}-suggestions [role=option]")


def chip_names(page: Page) -> list[str]:
    return page.locator("#chosen .chip-name").all_inner_texts()


def test_a_ship_is_found_by_typing_part_of_its_name_and_picking_it(
    browsing: tuple[Page, Watch],
) -> None:
    page, watch = browsing
    page.goto("/")
    mark_document(page)
    search = page.locator("#search")
    search.press_sequentially("rave", delay=30)
    expect(suggestions(page, "search").first).to_contain_text("Raven")
    expect(search).to_have_attribute("aria-expanded", "true")
    screenshot(page, "type-suggestions-1280")
    search.press("ArrowDown")
    first = suggestions(page, "search").first
    expect(first).to_have_attribute("aria-selected", "true")
    expect(search).to_have_attribute("aria-activedescendant", first.get_attribute("id") or "")
    expect(first.locator(".suggestion-name")).to_have_text("Raven")  # the ship, not its SKINs
    search.press("Enter")
    expect(page).to_have_url(re.compile(r"contains_type_id=638"))
    expect(page).not_to_have_url(re.compile(r"[?&]q="))
    expect(search).to_have_value("")
    expect(page.locator("#chosen .chip-name")).to_have_text(["Raven"])
    expect(page.locator("#results tbody tr")).to_have_count(1)
    assert contract_ids(page) == [1]  # the only contract holding a Raven
    assert same_document(page)

    page.reload()  # the URL holds the pick, the page names it
    expect(page.locator("#chosen .chip-name")).to_have_text(["Raven"])
    assert contract_ids(page) == [1]
    page.get_by_role("link", name="Remove holds Raven").click()
    expect(page).not_to_have_url(re.compile(r"contains_type_id"))
    expect(page.locator("#results tbody tr")).to_have_count(50)
    assert chip_names(page) == []
    watch.assert_clean()


def test_a_region_and_a_system_are_picked_by_name(browsing: tuple[Page, Watch]) -> None:
    page, watch = browsing
    page.goto("/")
    mark_document(page)
    place = page.locator("#place")
    place.press_sequentially("doma", delay=30)
    domain = suggestions(page, "place").filter(has_text="Domain")
    expect(domain).to_have_count(1)
    expect(domain).to_contain_text("region")
    domain.click()
    expect(page).to_have_url(re.compile(rf"region_id={DOMAIN}"))
    expect(page.locator("#chosen .chip-name")).to_have_text(["Domain"])
    expect(page.locator("#results tbody tr")).not_to_have_count(50)
    in_domain = contract_ids(page)
    assert in_domain
    assert all(n % 4 == 0 for n in in_domain if n <= 60)

    place.press_sequentially("amarr", delay=30)
    expect(suggestions(page, "place").first).to_contain_text("system")
    screenshot(page, "place-suggestions-1280")
    place.press("ArrowDown")
    place.press("Enter")
    # A place replaces the one picked before: the system, not the region any more.
    expect(page).to_have_url(re.compile(rf"system_id={AMARR}"))
    expect(page).not_to_have_url(re.compile(r"region_id"))
    expect(page.locator("#chosen .chip-name")).to_have_text(["Amarr"])
    at_amarr = contract_ids(page)
    assert at_amarr
    assert all(n % 5 == 0 for n in at_amarr)
    assert same_document(page)
    go_back(page)
    expect(page.locator("#chosen .chip-name")).to_have_text(["Domain"])
    assert contract_ids(page) == in_domain
    watch.assert_clean()


def test_without_javascript_a_place_is_typed_and_the_page_finds_it(
    browser: Browser, site: str
) -> None:
    page, watch = new_page(browser, site, java_script_enabled=False)
    page.goto("/")
    expect(page.locator("#summary .count")).to_have_count(0)
    page.fill("#place", "Amarr")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(rf"/\?system_id={AMARR}$"))
    expect(page.locator("#chosen .chip-name")).to_have_text(["Amarr"])
    assert all(n % 5 == 0 for n in contract_ids(page))
    page.get_by_role("link", name="Contracts per type and how fresh the data is").click()
    expect(page.get_by_role("heading", name="Contracts per type")).to_be_visible()
    expect(page.locator(".freshness")).to_contain_text("data as of")
    couriers = page.get_by_role("link", name=re.compile(r"^Couriers \d+"))
    couriers.click()
    expect(page).to_have_url(
        re.compile(rf"system_id={AMARR}.*type=courier|type=courier.*system_id={AMARR}")
    )
    watch.assert_clean()
    page.context.close()
