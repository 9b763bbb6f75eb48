"""The pages: the contract table, one contract, the regions' freshness.

Each reads through ``data`` (the query layer of the JSON routes) and renders a template. The
table answers an htmx request (``HX-Request``) with its results block alone and the URL to
show (``HX-Push-Url``); any other request gets the whole page, so every state is a plain URL
that works without JavaScript. The table costs its list and little else: the tabs' counts and
the regions' freshness are a fragment of their own (``/tab-counts``) that the page loads
after the table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from services.api.dependencies import ApiState, core_connection, driver_connection, get_state
from services.api.direct_route import query_model
from services.api.errors import validation_message
from services.api.location_schemas import LocationSearchText
from services.api.schemas import MAX_ID, ContractListQuery
from services.api.web import controls, data, present
from services.api.web.cells import table_rows
from services.api.web.controls import Url
from services.api.web.rendering import html_response, relative, render

router = APIRouter(include_in_schema=False)

_PLACE_TEXT: TypeAdapter[str] = TypeAdapter(LocationSearchText)

TAB_COUNTS_EXACT_UP_TO = 1000
"""Tabs count their contracts exactly up to this many and show the planner's estimate above:
the four counts of a table must not cost more than its list (a count of the JSON API counts
up to its ``count_exact_threshold``, 10,000 by default)."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a request, in words."""

    where: str
    message: str


def problems(error: RequestValidationError) -> list[Problem]:
    found = []
    for detail in error.errors():
        location = [str(part) for part in detail.get("loc", ()) if part not in ("query", "path")]
        found.append(Problem(".".join(location) or "request", validation_message(detail)))
    return found


def _is_fragment_request(request: Request) -> bool:
    headers = request.headers
    return headers.get("hx-request") == "true" and "hx-history-restore-request" not in headers


@dataclass(frozen=True, slots=True)
class Freshness:
    region_id: int
    name: str
    swept_at: datetime
    age: str


def _freshness(
    sweeps: dict[int, data.Sweep], region_ids: Sequence[int], now: datetime
) -> list[Freshness]:
    shown = [region_id for region_id in region_ids if region_id in sweeps] or sorted(sweeps)
    return [
        Freshness(
            region_id,
            present.region({"region_id": region_id, "region_name": sweeps[region_id].region_name}),
            sweeps[region_id].swept_at,
            relative(sweeps[region_id].swept_at, now),
        )
        for region_id in shown
    ]


def _tab_of(query: ContractListQuery) -> str:
    keys = {key for key, _ in controls.TABS}
    return query.type[0] if len(query.type) == 1 and query.type[0] in keys else ""


def _tabs(url: Url, tab: str, counts: dict[str, data.Count] | None) -> list[dict[str, Any]]:
    return [
        {
            "key": key,
            "label": name,
            "count": None if counts is None else counts[key],
            "href": url.with_(type=key or None),
            "current": key == tab,
        }
        for key, name in controls.TABS
    ]


@dataclass(frozen=True, slots=True)
class Chip:
    """A picked filter shown by name, with a link that removes it."""

    name: str
    value: str
    kind_label: str
    label: str
    remove_href: str


def _picked_ids(url: Url) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for picked in controls.active_picks():
        for value in url.values(picked.name):
            if value.isascii() and value.isdigit() and 0 < int(value) <= MAX_ID:
                found.setdefault(picked.kind, []).append(int(value))
    return found


def _chips(url: Url, names: dict[tuple[str, int], str]) -> list[Chip]:
    chips = []
    for picked in controls.active_picks():
        for value in url.values(picked.name):
            number = int(value) if value.isascii() and value.isdigit() else None
            name = names.get((picked.kind, number)) if number is not None else None
            chips.append(
                Chip(
                    picked.name,
                    value,
                    picked.label,
                    present.picked(picked.kind, value, name),
                    url.without(picked.name, value),
                )
            )
    return chips


def _summary_href(url: Url) -> str:
    """The tabs' counts of the table's filters (and sort, which the tabs' links keep): the
    same for every page of the table."""
    kept = [(name, value) for name, value in url.pairs if name not in controls.POSITION_PARAMETERS]
    return str(Url("/tab-counts", kept))


async def _table_context(
    state: ApiState, query: ContractListQuery, before: str | None, url: Url
) -> dict[str, Any]:
    """The table's rows and links: the list (with the names the JSON list has), and only
    what the page cannot do without (the highest bids on the auction tab, the names of the
    picked filters when there are some). The tabs' counts and the regions' freshness come
    after it (``tab_counts``)."""
    now = datetime.now(UTC)
    tab = _tab_of(query)
    picked_ids = _picked_ids(url)
    async with driver_connection(state) as connection:
        page = await data.contract_rows(connection, query, state.cursors, before)
        bids = (
            await data.highest_bids(connection, [row["contract_id"] for row in page.rows])
            if tab == "auction"
            else {}
        )
        names = await data.picked_names(connection, picked_ids) if picked_ids else {}
        # Only an empty table needs to know whether any region has been swept yet.
        first_sweep_in_progress = not page.rows and not await data.sweep_times(connection)
    if before is not None and page.before_cursor is None:
        # Back at the first page: its URL is the one without a position.
        url = Url(url.path, [(name, value) for name, value in url.pairs if name != "before"])
    columns = present.columns(tab, controls.sort_keys())
    return {
        "url": url,
        "rows": table_rows(page.rows, columns, now, bids),
        "tab": tab,
        "tabs": _tabs(url, tab, None),
        "counted": False,
        "in_table": True,
        "summary_href": _summary_href(url),
        "chips": _chips(url, names),
        "columns": columns,
        "sort": query.sort,
        "order": query.order,
        "next_href": url.with_(cursor=page.next_cursor) if page.next_cursor else None,
        "previous_href": url.with_(before=page.before_cursor) if page.before_cursor else None,
        "first_sweep_in_progress": first_sweep_in_progress,
    }


def _form_context(url: Url) -> dict[str, Any]:
    search = controls.search_parameter()
    picks = controls.active_picks()
    place_kinds = {picked.name for picked in controls.PLACE_PICKS if picked in picks}
    return {
        "url": url,
        "search_name": search,
        "search_value": url.value(search),
        "type_pick": controls.TYPE_PICK if controls.TYPE_PICK in picks else None,
        "place_picks": [
            f"{kind}={name}"
            for kind, name in controls.PLACE_PARAMETER_OF_KIND.items()
            if name in place_kinds
        ],
        "place_parameter": controls.PLACE_PARAMETER,
        "place_value": url.value(controls.PLACE_PARAMETER),
        "controls": controls.active_controls(),
        "chips": _chips(url, {}),
        "state": controls.form_state(url),
    }


async def _place_picked(state: ApiState, pairs: list[tuple[str, str]]) -> str | Problem:
    """Without JavaScript the place box sends its text: the URL with the place it names best
    (as ``/v1/locations`` ranks them) in place of any other place filter, or what is wrong."""
    text = [value for name, value in pairs if name == controls.PLACE_PARAMETER][-1]
    try:
        text = _PLACE_TEXT.validate_python(text)
    except ValidationError as error:
        return Problem("place", validation_message(error.errors()[0]))
    async with driver_connection(state) as connection:
        found = await data.best_place(connection, text)
    if found is None:
        return Problem("place", f"no region, system or station has a name like “{text}”")
    replaced = {picked.name for picked in controls.PLACE_PICKS} | controls.POSITION_PARAMETERS
    kept = [(name, value) for name, value in pairs if name not in replaced]
    kept = [(name, value) for name, value in kept if name != controls.PLACE_PARAMETER]
    kept.append((controls.PLACE_PARAMETER_OF_KIND[found["kind"]], str(found["id"])))
    return str(Url("/", kept))


@router.get("/", name="contracts_page")
async def contracts_page(request: Request) -> Response:
    state = await get_state(request)
    pairs = controls.cleaned(request.query_params)
    fragment = _is_fragment_request(request)
    found: list[Problem] = []
    if any(name == controls.PLACE_PARAMETER for name, _ in pairs):
        picked = await _place_picked(state, pairs)
        if isinstance(picked, str):
            return RedirectResponse(picked, status_code=303)
        found.append(picked)
    elif not fragment and len(pairs) != len(request.query_params.multi_items()):
        # A form sent without JavaScript names every field: show the URL of what was asked.
        return RedirectResponse(str(Url("/", pairs)), status_code=303)
    url = Url("/", pairs)
    query_params, page_params = controls.split(pairs)
    context: dict[str, Any] = {
        **_form_context(url),
        "problems": found,
        "now": datetime.now(UTC),
        "fragment_state": fragment,
    }
    status_code = 422
    if not found:
        try:
            query = query_model(ContractListQuery, query_params)
            context.update(await _table_context(state, query, page_params.get("before"), url))
            status_code = 200
        except RequestValidationError as error:
            context["problems"] = problems(error)
        except data.InvalidPositionError as error:
            context["problems"] = [Problem("page", f"{error}; start again from the first page")]
    headers = {"Vary": "HX-Request", "HX-Push-Url": str(context["url"])}
    max_age = state.settings.cache_max_age_s if status_code == 200 else None
    body = render("contracts.html", context, "results" if fragment else None)
    return html_response(request, body, status_code=status_code, max_age_s=max_age, headers=headers)


@router.get("/tab-counts", name="tab_counts")
async def tab_counts(request: Request) -> Response:
    """The table's tabs with their counts and the regions' freshness, for the table's
    filters: a fragment the table loads after itself (htmx), a page of its own otherwise."""
    state = await get_state(request)
    pairs = controls.cleaned(request.query_params)
    query_params, _ = controls.split(pairs)
    try:
        query = query_model(ContractListQuery, query_params)
    except RequestValidationError as error:
        return error_page(request, 422, "These filters cannot be used", problems(error))
    table = Url("/", pairs)
    threshold = min(state.settings.count_exact_threshold, TAB_COUNTS_EXACT_UP_TO)
    counts = {}
    async with driver_connection(state) as connection:
        for key, _ in controls.TABS:
            by_tab = query.model_copy(update={"type": [key] if key else [], "cursor": None})
            counts[key] = await data.count(connection, by_tab, threshold)
        sweeps = await data.sweep_times(connection)
    fragment = _is_fragment_request(request)
    context = {
        "tabs": _tabs(table, _tab_of(query), counts),
        "counted": True,
        "in_table": fragment,
        "summary_href": _summary_href(table),
        "freshness": _freshness(sweeps, query.region_id, datetime.now(UTC)),
        "table_href": str(table),
    }
    body = render("summary.html" if fragment else "counts.html", context)
    return html_response(
        request,
        body,
        max_age_s=state.settings.cache_max_age_s,
        headers={"Vary": "HX-Request"},
    )


def _contract_id(text: str) -> int | None:
    if not text.isascii() or not text.isdigit():
        return None
    value = int(text)
    return value if 0 < value <= MAX_ID else None


@router.get("/contracts/{contract_id}", name="contract_page")
async def contract_page(request: Request, contract_id: str) -> Response:
    state = await get_state(request)
    number = _contract_id(contract_id)
    if number is None:
        return error_page(
            request,
            422,
            "Not a contract id",
            [Problem("contract id", f"a contract id is a whole number from 1 to {MAX_ID}")],
        )
    async with core_connection(state) as connection:
        found = await data.contract(connection, number)
    if found is None:
        return error_page(
            request,
            404,
            "No such contract",
            [Problem("contract", f"Hangar Bay has never seen a public contract {number}")],
        )
    now = datetime.now(UTC)
    contract = dict(found.contract)
    items = [
        {**item, "type_label": present.item_type(item), "blueprint": present.blueprint(item)}
        for item in (dict(row) for row in found.items)
    ]
    gone = contract["status"] == "gone"
    context = {
        "now": now,
        "contract": contract,
        "label": present.label(contract),
        "type_label": present.type_label(contract["type"]),
        "start_location": present.start_location(contract),
        "end_location": present.end_location(contract),
        "region": present.region(contract),
        "issuer": present.issuer(contract),
        "issuer_corporation": present.issuer_corporation(contract),
        "reward_per_m3": present.reward_per_m3(contract),
        "offered": [item for item in items if item["is_included"]],
        "requested": [item for item in items if not item["is_included"]],
        "bids": found.bids,
        "gone": gone,
        "expired": not gone and contract["date_expired"] <= now,
        "issued_ago": relative(contract["date_issued"], now),
        "expires_in": relative(contract["date_expired"], now),
        "last_seen_ago": relative(contract["last_seen_at"], now),
        "gone_ago": relative(contract["gone_at"], now),
    }
    settings = state.settings
    max_age = settings.gone_cache_max_age_s if gone else settings.cache_max_age_s
    return html_response(request, render("contract.html", context), max_age_s=max_age)


@router.get("/regions", name="regions_page")
async def regions_page(request: Request) -> Response:
    state = await get_state(request)
    async with core_connection(state) as connection:
        rows = await data.region_freshness(connection)
    now = datetime.now(UTC)
    regions = [
        {
            **row,
            "name": present.region(row),
            "swept_ago": relative(row["last_sweep_at"], now),
            "generation_ago": relative(row["generation"], now),
            "lag": (
                relative(row["generation"], row["last_sweep_at"]).removesuffix(" ago")
                if row["last_sweep_at"] is not None and row["generation"] is not None
                else "—"
            ),
            "href": str(Url("/", [("region_id", str(row["region_id"]))])),
        }
        for row in rows
    ]
    context = {"now": now, "regions": regions}
    return html_response(
        request, render("regions.html", context), max_age_s=state.settings.cache_max_age_s
    )


def error_page(
    request: Request, status_code: int, title: str, found: Sequence[Problem]
) -> Response:
    context = {"status_code": status_code, "title": title, "problems": list(found)}
    return html_response(request, render("error.html", context), status_code=status_code)
