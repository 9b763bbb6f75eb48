"""Browser tests: Debian's Chromium driven by Playwright against ``hangar-bay api`` on real
PostgreSQL. Requests to anything but the site under test are aborted and recorded."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Dialog, Page, Route

from common.db import asyncpg_dsn, with_database
from common.derived_fields import DERIVE_ALL
from common.migration import upgrade_async
from common.sde.loader import load_catalog
from services.stack.servers import ServerUrls
from tests.browser.site import ARTEFACTS_DIR, serving, site_rows
from tests.integration.test_api_support import seed
from tests.support.places import load_places

CHROMIUM = "/usr/bin/chromium"
APT_INSTALL = ["apt-get", "install", "--yes", "--quiet", "--no-install-recommends", "chromium"]


def _apt(command: list[str]) -> int:
    return subprocess.run(command, capture_output=True, check=False, timeout=900).returncode


def _ensure_chromium() -> str:
    """Debian's Chromium, installed with apt-get when missing and allowed (root), as
    ``.ci/run`` does; otherwise a failure that says how to install it."""
    can_install = os.geteuid() == 0 and shutil.which("apt-get")
    if not Path(CHROMIUM).exists() and can_install and _apt(APT_INSTALL) != 0:
        _apt(["apt-get", "update", "--quiet"])
        _apt(APT_INSTALL)
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)")
    return CHROMIUM


@pytest.fixture(scope="session")
def browser_type_launch_args() -> dict[str, Any]:
    return {"executable_path": _ensure_chromium(), "args": ["--no-sandbox", "--disable-gpu"]}


def _in_a_thread(work: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run ``work`` on an event loop of its own: Playwright's sync API holds this thread's."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, work()).result()


async def _create(servers: ServerUrls, name: str) -> None:
    admin = await asyncpg.connect(asyncpg_dsn(with_database(servers.database_url, "postgres")))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = with_database(servers.database_url, name)
    await upgrade_async(url)
    await load_catalog(url)  # as hangar-bay migrate leaves it
    await seed(url, **site_rows())
    await load_places(url)  # what the resolver publishes: the places' names
    # What the persister derives when contracts land (seed writes the tables directly).
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await connection.execute(DERIVE_ALL)
    finally:
        await connection.close()


async def _drop(servers: ServerUrls, name: str) -> None:
    admin = await asyncpg.connect(asyncpg_dsn(with_database(servers.database_url, "postgres")))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(scope="module")
def loaded_database(servers: ServerUrls) -> Iterator[str]:
    """A database of its own, migrated and loaded with the site's rows (read only)."""
    name = f"hb_browser_{uuid.uuid4().hex[:12]}"
    _in_a_thread(lambda: _create(servers, name))
    try:
        yield with_database(servers.database_url, name)
    finally:
        _in_a_thread(lambda: _drop(servers, name))


@pytest.fixture(scope="module")
def site(loaded_database: str) -> Iterator[str]:
    with serving(loaded_database) as url:
        yield url


class Watch:
    """What a page did that it must not: outside requests, CSP violations, script errors,
    dialogs (an ``alert`` from an injected title)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.outside: list[str] = []
        self.console_errors: list[str] = []
        self.dialogs: list[str] = []

    def route(self, route: Route) -> None:
        if route.request.url.startswith(self.base_url):
            route.continue_()
        else:
            self.outside.append(route.request.url)
            route.abort()

    def console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.console_errors.append(message.text)

    def dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def attach(self, context: BrowserContext) -> None:
        context.route("**/*", self.route)
        context.on("console", self.console)
        context.on("dialog", self.dialog)

    def assert_clean(self) -> None:
        assert self.outside == [], self.outside
        assert self.dialogs == [], self.dialogs
        assert self.console_errors == [], self.console_errors


def new_page(browser: Browser, site: str, **context_args: Any) -> tuple[Page, Watch]:
    context = browser.new_context(base_url=site, **context_args)
    watch = Watch(site)
    watch.attach(context)
    page = context.new_page()
    page.on("pageerror", lambda error: watch.console_errors.append(str(error)))
    return page, watch


@pytest.fixture
def browsing(browser: Browser, site: str) -> Iterator[tuple[Page, Watch]]:
    page, watch = new_page(browser, site, viewport={"width": 1280, "height": 900})
    yield page, watch
    page.context.close()


DOCS_IMAGES_DIR = Path(__file__).resolve().parents[2] / "docs" / "images"


def screenshot(page: Page, name: str, *, docs_name: str | None = None) -> None:
    """A full-page screenshot among the test artefacts; with ``docs_name`` and
    ``HANGAR_UPDATE_DOCS_IMAGES=1``, the README's image of the page too (viewport only)."""
    ARTEFACTS_DIR.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTEFACTS_DIR / f"{name}.png"), full_page=True)
    if docs_name is not None and os.environ.get("HANGAR_UPDATE_DOCS_IMAGES") == "1":
        DOCS_IMAGES_DIR.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(DOCS_IMAGES_DIR / f"{docs_name}.png"))
