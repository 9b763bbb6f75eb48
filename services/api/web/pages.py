"""The pages: the contract table, one contract, the regions' freshness.

Each reads through ``data`` (the query layer of the JSON routes) and renders a template. The
table answers an htmx request (``HX-Request``) with its results block alone and the URL to
show (``HX-Push-Url``); any other request gets the whole page, so every state is a plain URL
that works without JavaScript.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from fastapi.exceptions import RequestValidationError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from services.api.dependencies import ApiState, driver_connection, get_state
from services.api.direct_route import query_model
from services.api.schemas import MAX_ID, ContractListQuery
from services.api.web import controls, data, present
from services.api.web.controls import Url
from services.api.web.rendering import html_response, relative, render

router = APIRouter(include_in_schema=False)

TAB_COUNTS_EXACT_UP_TO = 1000
"""Tabs count their contracts exactly up to this many and show the planner's estimate above:
four counts per page must not cost more than the page's list (a count of the JSON API counts
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
        found.append(Problem(".".join(location) or "request", str(detail.get("msg", "invalid"))))
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
    sweeps: dict[int, datetime], region_ids: Sequence[int], now: datetime
) -> list[Freshness]:
    shown = [region_id for region_id in region_ids if region_id in sweeps] or sorted(sweeps)
    return [
        Freshness(
            region_id,
            present.region({"region_id": region_id}),
            sweeps[region_id],
            relative(sweeps[region_id], now),
        )
        for region_id in shown
    ]


def _tab_of(query: ContractListQuery) -> str:
    keys = {key for key, _ in controls.TABS}
    return query.type[0] if len(query.type) == 1 and query.type[0] in keys else ""


async def _table_context(
    state: ApiState, query: ContractListQuery, before: str | None, url: Url
) -> dict[str, Any]:
    now = datetime.now(UTC)
    tab = _tab_of(query)
    async with driver_connection(state.engine) as connection:
        sweeps = await data.sweep_times(connection)
        page = await data.contract_rows(connection, query, state.cursors, before)
        counts = {}
        for key, _ in controls.TABS:
            by_tab = query.model_copy(update={"type": [key] if key else [], "cursor": None})
            counts[key] = await data.count(
                connection,
                by_tab,
                min(state.settings.count_exact_threshold, TAB_COUNTS_EXACT_UP_TO),
            )
        bids = (
            await data.highest_bids(connection, [row["contract_id"] for row in page.rows])
            if tab in ("", "auction")
            else {}
        )
    if before is not None and page.before_cursor is None:
        # Back at the first page: its URL is the one without a position.
        url = Url(url.path, [(name, value) for name, value in url.pairs if name != "before"])
    rows = [
        {
            **row,
            "price_or_reward": row["reward"] if row["type"] == "courier" else row["price"],
            "label": present.label(row),
            "type_label": present.type_label(row["type"]),
            "location": present.start_location(row),
            "end_location_label": present.end_location(row),
            "region_label": present.region(row),
            "reward_per_m3": present.reward_per_m3(row),
            "current_bid": bids.get(row["contract_id"]),
            "issued_ago": relative(row["date_issued"], now),
            "expires_in": relative(row["date_expired"], now),
            "expired": row["date_expired"] <= now,
        }
        for row in page.rows
    ]
    sort_keys = controls.sort_keys()
    return {
        "url": url,
        "rows": rows,
        "tab": tab,
        "tabs": [
            {
                "key": key,
                "label": name,
                "count": counts[key],
                "href": url.with_(type=key or None),
                "current": key == tab,
            }
            for key, name in controls.TABS
        ],
        "columns": present.columns(tab, sort_keys),
        "sort": query.sort,
        "order": query.order,
        "next_href": url.with_(cursor=page.next_cursor) if page.next_cursor else None,
        "previous_href": url.with_(before=page.before_cursor) if page.before_cursor else None,
        "freshness": _freshness(sweeps, query.region_id, now),
        "first_sweep_in_progress": not sweeps and not rows,
    }


def _form_context(url: Url) -> dict[str, Any]:
    search = controls.search_parameter()
    return {
        "url": url,
        "search_name": search,
        "search_value": url.value(search),
        "controls": controls.active_controls(),
        "state": [
            (name, url.value(name))
            for name in ("type", "sort", "order", "limit", "status")
            if url.value(name)
        ],
    }


@router.get("/", name="contracts_page")
async def contracts_page(request: Request) -> Response:
    state = await get_state(request)
    pairs = controls.cleaned(request.query_params)
    fragment = _is_fragment_request(request)
    if not fragment and len(pairs) != len(request.query_params.multi_items()):
        # A form sent without JavaScript names every field: show the URL of what was asked.
        return RedirectResponse(str(Url("/", pairs)), status_code=303)
    url = Url("/", pairs)
    query_params, page_params = controls.split(pairs)
    context: dict[str, Any] = {
        **_form_context(url),
        "problems": [],
        "now": datetime.now(UTC),
        "fragment_state": fragment,
    }
    try:
        query = query_model(ContractListQuery, query_params)
        context.update(await _table_context(state, query, page_params.get("before"), url))
        status_code = 200
    except RequestValidationError as error:
        context["problems"] = problems(error)
        status_code = 422
    except data.InvalidPositionError as error:
        context["problems"] = [Problem("page", f"{error}; start again from the first page")]
        status_code = 422
    headers = {"Vary": "HX-Request", "HX-Push-Url": str(context["url"])}
    max_age = state.settings.cache_max_age_s if status_code == 200 else None
    body = render("contracts.html", context, "results" if fragment else None)
    return html_response(request, body, status_code=status_code, max_age_s=max_age, headers=headers)


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
    async with state.engine.connect() as connection:
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
    async with state.engine.connect() as connection:
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
