"""The contract table's controls: which exist, which the query layer supports, and the URL.

Every control is a query parameter of ``GET /v1/contracts`` under the same name. A control is
shown only when ``ContractListQuery`` has its field, so controls for filters the query layer
gains later appear without a change here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, get_args
from urllib.parse import urlencode

from starlette.datastructures import QueryParams

from services.api.schemas import ContractListQuery

ControlKind = Literal["text", "number", "money", "select", "checkbox"]


@dataclass(frozen=True, slots=True)
class Control:
    name: str
    label: str
    kind: ControlKind
    group: str
    placeholder: str = ""
    options: tuple[tuple[str, str], ...] = ()
    step: str = "any"


SEARCH_PARAMETERS = ("q", "title")
"""The search box: item names and titles when the query layer has ``q``, titles otherwise."""

CONTROLS: tuple[Control, ...] = (
    Control(
        "security",
        "Security",
        "select",
        "where",
        options=(("", "any"), ("highsec", "high sec"), ("lowsec", "low sec"), ("nullsec", "null")),
    ),
    Control("min_price", "Price from", "money", "price", "ISK"),
    Control("max_price", "Price to", "money", "price", "ISK"),
    Control("ship", "Ships only", "checkbox", "what"),
    Control("bpc", "Blueprint copies only", "checkbox", "what"),
    Control("min_runs", "Runs ≥", "number", "blueprint", step="1"),
    Control("min_me", "ME ≥", "number", "blueprint", step="1"),
    Control("min_te", "TE ≥", "number", "blueprint", step="1"),
    Control("min_reward_per_m3", "Reward per m³ ≥", "money", "courier", "ISK/m³"),
    Control("min_reward", "Reward from", "money", "courier", "ISK"),
    Control("max_collateral", "Collateral to", "money", "courier", "ISK"),
    Control("max_volume", "Volume to", "number", "courier", "m³"),
)

TABS: tuple[tuple[str, str], ...] = (
    ("", "All"),
    ("item_exchange", "Item exchange"),
    ("auction", "Auctions"),
    ("courier", "Couriers"),
)
PLACE_PARAMETER = "place"
"""The place box's text: without JavaScript the page resolves it to a place id (below)."""
PAGE_ONLY_PARAMETERS = frozenset({"before", PLACE_PARAMETER})
"""Parameters of the page alone: not filters of the query layer."""
POSITION_PARAMETERS = frozenset({"cursor", "before"})


@dataclass(frozen=True, slots=True)
class Picked:
    """A filter by id that the page shows by name, picked from suggestions."""

    name: str
    kind: str
    label: str


TYPE_PICK = Picked("contains_type_id", "type", "Holds")
PLACE_PICKS: tuple[Picked, ...] = (
    Picked("region_id", "region", "Region"),
    Picked("system_id", "system", "System"),
    Picked("start_location_id", "station", "Station"),
)
PICKS: tuple[Picked, ...] = (TYPE_PICK, *PLACE_PICKS)
PLACE_PARAMETER_OF_KIND = {
    "region": "region_id",
    "system": "system_id",
    "station": "start_location_id",
    "structure": "start_location_id",
}
"""Where a place found by name goes, by its kind (``/v1/locations``)."""


def active_picks() -> list[Picked]:
    return [picked for picked in PICKS if supported(picked.name)]


def supported(name: str) -> bool:
    return name in ContractListQuery.model_fields


def search_parameter() -> str:
    return next(name for name in SEARCH_PARAMETERS if supported(name))


def active_controls() -> list[Control]:
    return [control for control in CONTROLS if supported(control.name)]


def sort_keys() -> tuple[str, ...]:
    """The sort keys the query layer accepts."""
    annotation = ContractListQuery.model_fields["sort"].annotation
    return tuple(str(key) for key in get_args(annotation))


def form_state(url: Url) -> list[tuple[str, str]]:
    """The URL's parameters that no visible field of the form holds (tab, sort, page size,
    any other filter of a shared link): hidden fields, so that a change of the form keeps
    them. Picked ids have their own hidden fields; a position is left out, since a change
    of the filters starts from the first page."""
    shown = {control.name for control in active_controls()} | {search_parameter()}
    shown |= {picked.name for picked in PICKS} | POSITION_PARAMETERS | {PLACE_PARAMETER}
    return [(name, value) for name, value in url.pairs if name not in shown]


def cleaned(params: QueryParams) -> list[tuple[str, str]]:
    """The parameters with empty values dropped (a GET form sends every field, filled in or
    not) and unchecked checkboxes' ``false`` kept out of the URL."""
    return [(name, value) for name, value in params.multi_items() if value.strip() != ""]


def split(pairs: Iterable[tuple[str, str]]) -> tuple[QueryParams, dict[str, str]]:
    """The query layer's parameters apart from the page's own ones."""
    query: list[tuple[str, str]] = []
    page: dict[str, str] = {}
    for name, value in pairs:
        if name in PAGE_ONLY_PARAMETERS:
            page[name] = value
        else:
            query.append((name, value))
    return QueryParams(query), page


class Url:
    """The page's state as URL parameters, and links that change part of it."""

    def __init__(self, path: str, pairs: Sequence[tuple[str, str]]) -> None:
        self.path = path
        self.pairs = list(pairs)

    def __str__(self) -> str:
        return f"{self.path}?{urlencode(self.pairs)}" if self.pairs else self.path

    def values(self, name: str) -> list[str]:
        return [value for key, value in self.pairs if key == name]

    def value(self, name: str) -> str:
        found = self.values(name)
        return found[-1] if found else ""

    def without(self, name: str, value: str) -> str:
        """This URL without one value of ``name``, from the first page."""
        pairs = [
            (key, kept)
            for key, kept in self.pairs
            if (key, kept) != (name, value) and key not in POSITION_PARAMETERS
        ]
        return f"{self.path}?{urlencode(pairs)}" if pairs else self.path

    def with_(self, **changes: str | None) -> str:
        """This URL with ``changes`` (None removes a parameter), from the first page unless
        the change is a position."""
        drop = set(changes) | POSITION_PARAMETERS
        pairs = [(name, value) for name, value in self.pairs if name not in drop]
        pairs += [(name, value) for name, value in changes.items() if value is not None]
        return f"{self.path}?{urlencode(pairs)}" if pairs else self.path
