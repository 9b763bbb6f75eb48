"""What ``bench_api``'s clients ask for: list requests drawn as a trader's screen would send
them, each with one filter on what contracts hold (a *filter family*) or none, type name
autocomplete requests, and the sampled data they draw from (rows for cursors at random depths,
offered types, systems, market groups).

A family whose parameter the query layer does not accept yet (``ContractListQuery``'s fields)
is not drawn; one whose drawn parameters it refuses is reported and left out.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final
from urllib.parse import urlencode

import asyncpg
from pydantic import ValidationError

from benchmarks import api_dataset
from common.db import SHIP_CATEGORY_ID
from services.api import queries
from services.api.cursor import (
    Cursor,
    CursorCodec,
    filters_digest,
    sort_value_from_text,
    sort_value_to_text,
)
from services.api.queries.columns import SORT_COLUMNS
from services.api.schemas import ContractListQuery

AUTOCOMPLETE_LIMIT: Final = 10
#: The share of the mixed draws that carry one content filter (a family's).
CONTENT_SHARE: Final = 0.35
PLAIN: Final = "plain"
AUTOCOMPLETE: Final = "types?q= autocomplete"

#: What ``q`` requires of its text: 3 letters or digits in a row.
INDEXABLE_TEXT: Final = re.compile(r"[^\W_]{3}")


def _weighted(rng: random.Random, choices: tuple[tuple[Any, float], ...]) -> Any:
    roll = rng.random() * sum(weight for _, weight in choices)
    for value, weight in choices:
        if roll < weight:
            return value
        roll -= weight
    return choices[-1][0]


#: Sort keys with how often they are asked for, and how often in their natural order.
SORTS = (("date_issued", 0.45), ("price", 0.25), ("date_expired", 0.1), ("volume", 0.1),
         ("reward", 0.1))  # fmt: skip
NATURAL_ORDER = {"date_issued": ("desc", 0.85), "price": ("asc", 0.7),
                 "date_expired": ("asc", 0.8), "volume": ("desc", 0.7),
                 "reward": ("desc", 0.8), "reward_per_m3": ("desc", 0.9)}  # fmt: skip
LATER_PAGE_SHARE = 0.3


@dataclass(frozen=True)
class Position:
    """A row of the data: where a later page may start."""

    contract_id: int
    values: dict[str, Any]


@dataclass(frozen=True)
class Content:
    """What the generated data holds, for the content filters' draws: names of offered types
    (ships apart), their type, category and market group ids, the systems of its stations
    and the market-group tree (child -> parent)."""

    ship_names: list[str]
    other_names: list[str]
    type_ids: list[int]
    category_ids: list[int]  # one per sampled item: drawn as often as items have them
    market_group_ids: list[int]
    market_parents: dict[int, int | None]
    system_ids: list[int]


def _order(rng: random.Random, sort: str) -> str:
    natural, share = NATURAL_ORDER[sort]
    return natural if rng.random() < share else ("asc" if natural == "desc" else "desc")


def draw_params(rng: random.Random, content: Content) -> dict[str, Any]:
    """One list request's parameters without a content filter, as a trader's screen would
    send them."""
    params: dict[str, Any] = {}
    regions = _weighted(
        rng,
        (((), 0.35), ((10000002,), 0.4), ((rng.choice(api_dataset.REGIONS[1:]),), 0.2),
         (tuple(rng.sample(api_dataset.REGIONS, 2)), 0.05)),
    )  # fmt: skip
    if regions:
        params["region_id"] = list(regions)
    types = _weighted(
        rng,
        (((), 0.55), (("item_exchange",), 0.2), (("courier",), 0.12), (("auction",), 0.1),
         (("item_exchange", "auction"), 0.03)),
    )  # fmt: skip
    if types:
        params["type"] = list(types)
    status = _weighted(rng, (("outstanding", 0.9), ("all", 0.08), ("gone", 0.02)))
    if status != "outstanding":
        params["status"] = status
    if rng.random() < 0.15:
        low = round(10 ** rng.uniform(3, 7), 2)
        params["min_price"] = str(Decimal(str(low)))
        params["max_price"] = str(Decimal(str(round(low * rng.uniform(10, 1000), 2))))
    if rng.random() < 0.08:
        params["contains_type_id"] = [rng.choice(content.type_ids)]
    if rng.random() < 0.02:
        params["issuer_id"] = 90_000_000 + rng.randrange(200_000)
    sort = _weighted(rng, SORTS)
    order = _order(rng, sort)
    if (sort, order) != ("date_issued", "desc"):
        params["sort"], params["order"] = sort, order
    limit = _weighted(rng, ((None, 0.7), (20, 0.1), (100, 0.15), (500, 0.05)))
    if limit is not None:
        params["limit"] = limit
    if rng.random() < 0.1:
        params["count"] = "true"
    return params


def type_text(rng: random.Random, content: Content) -> str:
    """Part of a real type name as a trader types it: a prefix of its first word, or the
    first word and the start of the second ("vexor na"); lower case; holding 3 letters or
    digits in a row, as ``q`` requires."""
    names = content.ship_names if rng.random() < 0.6 else content.other_names
    names = names or content.ship_names or content.other_names
    while True:
        words = rng.choice(names).lower().split()
        if not words:
            continue
        if len(words) >= 2 and len(words[0]) >= 2 and rng.random() < 0.5:
            text = f"{words[0]} {words[1][: rng.randint(1, len(words[1]))]}"
        else:
            text = words[0][: rng.randint(3, max(3, len(words[0])))]
        if INDEXABLE_TEXT.search(text):
            return text


def _market_group(rng: random.Random, content: Content) -> int:
    """A market group of an offered type, or one of its ancestors (a whole subtree)."""
    group = rng.choice(content.market_group_ids)
    for _ in range(rng.randint(0, 2)):
        parent = content.market_parents.get(group)
        if parent is None:
            break
        group = parent
    return group


def _items_only(params: dict[str, Any]) -> None:
    """Item filters select item exchanges and auctions: no courier type beside them."""
    kept = [kind for kind in params.get("type", []) if kind != "courier"]
    if kept:
        params["type"] = kept
    else:
        params.pop("type", None)


def _q(rng: random.Random, content: Content, params: dict[str, Any]) -> None:
    _items_only(params)
    params["q"] = type_text(rng, content)


def _ship(rng: random.Random, content: Content, params: dict[str, Any]) -> None:
    _items_only(params)
    params["ship"] = "true" if rng.random() < 0.85 else "false"


def _category(rng: random.Random, content: Content, params: dict[str, Any]) -> None:
    _items_only(params)
    params["category_id"] = rng.choice(content.category_ids)


def _bpc(rng: random.Random, content: Content, params: dict[str, Any]) -> None:
    _items_only(params)
    params["bpc"] = "true"
    if rng.random() < 0.7:
        params["min_me"] = rng.randint(0, 10)
    if rng.random() < 0.3:
        params["min_te"] = rng.randrange(0, 21, 2)
    if rng.random() < 0.3:
        params["max_runs"] = rng.choice((1, 5, 10, 100))


def _system(rng: random.Random, content: Content, params: dict[str, Any]) -> None:
    params.pop("region_id", None)  # a system is in one region already
    params["system_id"] = 30000142 if rng.random() < 0.5 else rng.choice(content.system_ids)


def _reward_per_m3(rng: random.Random, content: Content, params: dict[str, Any]) -> None:
    params["type"] = ["courier"]
    params["min_reward_per_m3"] = round(10 ** rng.uniform(1, 4), 2)
    if rng.random() < 0.8:
        params["sort"], params["order"] = "reward_per_m3", _order(rng, "reward_per_m3")


def _security(rng: random.Random, content: Content, params: dict[str, Any]) -> None:
    params["security"] = _weighted(rng, (("highsec", 0.6), ("lowsec", 0.25), ("nullsec", 0.15)))


def _market_group_filter(rng: random.Random, content: Content, params: dict[str, Any]) -> None:
    _items_only(params)
    params["market_group_id"] = _market_group(rng, content)


ContentDraw = Callable[[random.Random, Content, dict[str, Any]], None]
#: family -> (the query parameter it needs, how it adds its filter to a request's parameters)
FAMILIES: Final[dict[str, tuple[str, ContentDraw]]] = {
    "q": ("q", _q),
    "ship": ("ship", _ship),
    "category_id": ("category_id", _category),
    "bpc + ME/TE/runs": ("min_me", _bpc),
    "system_id": ("system_id", _system),
    "reward_per_m3": ("min_reward_per_m3", _reward_per_m3),
    "security": ("security", _security),
    "market_group_id": ("market_group_id", _market_group_filter),
}


def available_families() -> list[str]:
    """The families whose parameter the query layer accepts (``security`` and
    ``market_group_id`` come with a later change of it)."""
    return [
        family
        for family, (parameter, _) in FAMILIES.items()
        if parameter in ContractListQuery.model_fields
    ]


@dataclass
class Request:
    """One drawn request: its URL, its family and what the API runs for it (its own query
    layer): a contract list ``query`` after a position, or a type name search ``type_text``."""

    target: str
    family: str
    query: ContractListQuery | None = None
    after: queries.Keyset | None = None
    type_text: str | None = None


def build_request(
    rng: random.Random,
    codec: CursorCodec,
    positions: list[Position],
    content: Content,
    family: str,
) -> Request:
    """A list request of ``family`` (``PLAIN``: no content filter)."""
    params = draw_params(rng, content)
    if family != PLAIN:
        FAMILIES[family][1](rng, content, params)
    query = ContractListQuery.model_validate(params)
    after = None
    if rng.random() < LATER_PAGE_SHARE:
        position = rng.choice(positions)
        value = position.values[query.sort]
        if value is None and query.sort not in queries.NULLABLE_SORTS:
            value = position.values["date_issued"]
        text = sort_value_to_text(query.sort, value)
        params["cursor"] = codec.encode(
            Cursor(query.sort, query.order, text, position.contract_id,
                   filters_digest(query.filter_fields()))
        )  # fmt: skip
        after = queries.Keyset(sort_value_from_text(query.sort, text), position.contract_id)
    target = "/v1/contracts?" + urlencode(params, doseq=True)
    return Request(target, family, query, after)


def type_request(rng: random.Random, content: Content) -> Request:
    text = type_text(rng, content)
    target = "/v1/types?" + urlencode({"q": text, "limit": AUTOCOMPLETE_LIMIT})
    return Request(target, AUTOCOMPLETE, type_text=text)


async def sample_positions(pool: asyncpg.Pool, wanted: int = 5000) -> list[Position]:
    """Rows spread over the whole table, for cursors at random depths."""
    total = await pool.fetchval("SELECT count(*) FROM contracts")
    percent = min(100.0, 100.0 * wanted / max(1, total))
    names = ", ".join(SORT_COLUMNS)
    rows = await pool.fetch(
        f"SELECT contract_id, {names} FROM contracts TABLESAMPLE BERNOULLI ({percent})"
    )
    return [
        Position(row["contract_id"], {name: row[name] for name in SORT_COLUMNS}) for row in rows
    ]


async def sample_content(pool: asyncpg.Pool, wanted: int = 20_000) -> Content:
    """Offered types of a sample of the items, the stations' systems, the market groups."""
    total = await pool.fetchval("SELECT count(*) FROM contract_items")
    percent = min(100.0, 100.0 * wanted / max(1, total))
    offered = await pool.fetch(
        "SELECT t.type_id, t.name, t.category_id, t.market_group_id"
        f" FROM contract_items AS i TABLESAMPLE BERNOULLI ({percent})"
        " JOIN item_types AS t ON t.type_id = i.type_id WHERE i.is_included"
    )
    if not offered:
        raise SystemExit("no offered items of known types: the dataset has none to draw from")
    groups = await pool.fetch("SELECT market_group_id, parent_id FROM market_groups")
    systems = await pool.fetch("SELECT DISTINCT system_id FROM stations ORDER BY system_id")
    return Content(
        ship_names=sorted({r["name"] for r in offered if r["category_id"] == SHIP_CATEGORY_ID}),
        other_names=sorted({r["name"] for r in offered if r["category_id"] != SHIP_CATEGORY_ID}),
        type_ids=sorted({r["type_id"] for r in offered}),
        category_ids=[r["category_id"] for r in offered],
        market_group_ids=[r["market_group_id"] for r in offered if r["market_group_id"]],
        market_parents={r["market_group_id"]: r["parent_id"] for r in groups},
        system_ids=[r["system_id"] for r in systems],
    )


@dataclass
class Client:
    seed: int
    requests: list[Request]


def draw_clients(
    seed: int, clients: int, per_client: int, draw: Callable[[random.Random], Request]
) -> list[Client]:
    drawn = []
    for number in range(clients):
        rng = random.Random(seed + number)
        drawn.append(Client(seed + number, [draw(rng) for _ in range(per_client)]))
    return drawn


@dataclass
class Workloads:
    """Every run's clients: the mixed draws, each family's, the autocomplete's."""

    mixed: list[Client]
    families: dict[str, list[Client]]
    autocomplete: list[Client]


@dataclass(frozen=True)
class Sizes:
    """How many clients and draws each run has."""

    seed: int
    clients: int
    draws: int  #: per client, mixed
    family_draws: int  #: per client and family, and per autocomplete client
    autocomplete_clients: int


def draw_workloads(
    sizes: Sizes,
    codec: CursorCodec,
    positions: list[Position],
    content: Content,
    families: list[str],
) -> Workloads:
    def mixed(rng: random.Random) -> Request:
        family = rng.choice(families) if rng.random() < CONTENT_SHARE else PLAIN
        return build_request(rng, codec, positions, content, family)

    def only(family: str) -> Callable[[random.Random], Request]:
        return lambda rng: build_request(rng, codec, positions, content, family)

    seed, clients = sizes.seed, sizes.clients
    return Workloads(
        mixed=draw_clients(seed, clients, sizes.draws, mixed),
        families={
            # Seeded by the family's place in FAMILIES: the same draws whichever are measured.
            family: draw_clients(
                seed + 1000 * (list(FAMILIES).index(family) + 1),
                clients,
                sizes.family_draws,
                only(family),
            )
            for family in families
        },
        autocomplete=draw_clients(
            seed + 100_000,
            sizes.autocomplete_clients,
            sizes.family_draws,
            lambda rng: type_request(rng, content),
        ),
    )


def usable_families(codec: CursorCodec, positions: list[Position], content: Content) -> list[str]:
    """The available families whose draws the query layer validates (a parameter of another
    shape than drawn here is reported and its family left out)."""
    usable = []
    for family in available_families():
        try:
            for seed in range(20):
                build_request(random.Random(seed), codec, positions, content, family)
        except ValidationError as error:
            print(f"family {family} left out: the query layer refuses its draws: {error}")
            continue
        usable.append(family)
    skipped = sorted(set(FAMILIES) - set(available_families()))
    if skipped:
        print(f"families not measured (the query layer has no such filter yet): {skipped}")
    return usable
