"""Deterministic generation of one public contract, shaped exactly like ESI's JSON.

Every contract draws from its own ``random.Random`` seeded by ``(seed, contract_id)``, so a
contract's fields, items and bids do not depend on how many other contracts exist.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from random import Random
from typing import Any, Final, TypeVar

from services.esi_sim import catalog

EsiObject = dict[str, Any]
"""One JSON object as ESI sends it (keys in alphabetical order, optional keys omitted)."""

T = TypeVar("T")

SALT_CONTRACT: Final = 1
SALT_ITEMS: Final = 2
SALT_BIDS: Final = 3
SALT_POOL: Final = 4
SALT_BID_GENERATION: Final = 1 << 20


def mix(seed: int, key: int, salt: int) -> int:
    """A distinct non-negative seed for every ``(seed, key, salt)``."""
    return ((seed & catalog.MASK64) << 96) | ((key & catalog.MASK64) << 32) | (salt & 0xFFFFFFFF)


def iso_z(ts: float) -> str:
    """``2023-03-14T06:43:34Z``: ISO-8601, UTC, second precision — ESI's date-time format."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(ts)))


def esi_number(value: float) -> float | int:
    """Whole doubles as JSON integers, like ESI (``"price": 0``, ``"volume": 15500000``)."""
    if value.is_integer():
        return int(value)
    return value


def pick(rng: Random, options: Sequence[T]) -> T:
    """``rng.choice`` without its per-call overhead (generation speed matters here)."""
    return options[int(rng.random() * len(options))]


def between(rng: Random, low: int, high: int) -> int:
    """An integer in ``[low, high)``; a fast ``rng.randrange(low, high)``."""
    return low + int(rng.random() * (high - low))


def round_sig(value: float, digits: int) -> float:
    """``value`` rounded to ``digits`` significant digits (ISK prices are usually round)."""
    if value <= 0:
        return 0.0
    magnitude = len(str(int(value))) if value >= 1 else 0
    return round(value, digits - magnitude)


@dataclass(frozen=True, slots=True)
class RegionPool:
    """Locations contracts of one region start from: its trade hub first, then stations and
    upwell structures (ids above 2**32)."""

    region_id: int
    locations: tuple[int, ...]

    def pick(self, rng: Random) -> int:
        """A location, heavily skewed towards the hub."""
        index = int(rng.random() ** 3 * len(self.locations))
        return self.locations[min(index, len(self.locations) - 1)]


def make_pool(seed: int, region_id: int) -> RegionPool:
    rng = Random(mix(seed, region_id, SALT_POOL))
    hub = catalog.HUBS.get(region_id, rng.randrange(*catalog.STATION_RANGE))
    stations = [rng.randrange(*catalog.STATION_RANGE) for _ in range(catalog.STATIONS_PER_REGION)]
    structures = [
        rng.randrange(*catalog.STRUCTURE_RANGE) for _ in range(catalog.STRUCTURES_PER_REGION)
    ]
    others = stations + structures
    rng.shuffle(others)
    return RegionPool(region_id, (hub, *others))


@dataclass(slots=True)
class ContractRecord:
    """A listed contract: its ESI body plus what the item and bid generators need."""

    contract_id: int
    region_id: int
    type: str
    born: int
    """Generation the contract first appeared in."""
    issued: int
    expires: int
    price: float
    n_items: int
    """Item rows (included and requested) the items route returns."""
    n_requested: int
    """How many of the last item rows are requested (``is_included: false``)."""
    body: EsiObject = field(repr=False)


def _contract_type(rng: Random) -> str:
    roll = rng.random()
    if roll < 0.60:
        return "item_exchange"
    if roll < 0.70:
        return "auction"
    if roll < 0.95:
        return "courier"
    if roll < 0.975:
        return "loan"
    return "unknown"


def item_count(rng: Random) -> int:
    """Items per contract: mostly 1-3, p99 around 16, rarely up to ~420."""
    roll = rng.random()
    if roll < 0.80:
        return between(rng, 1, 4)
    if roll < 0.96:
        return between(rng, 4, 9)
    if roll < 0.99:
        return between(rng, 9, 17)
    if roll < 0.998:
        return between(rng, 17, 61)
    return between(rng, 61, 421)


_DURATIONS: Final = tuple(
    (days * catalog.DAY, weight)
    for days, weight in zip(catalog.DURATION_DAYS, catalog.DURATION_WEIGHTS, strict=True)
)


def _duration(rng: Random, min_life: int) -> int:
    """A contract duration (1 day to 4 weeks, weighted) longer than ``min_life`` + a minute."""
    first = 0
    while first < len(_DURATIONS) and _DURATIONS[first][0] <= min_life + 60:
        first += 1
    if first == len(_DURATIONS):
        return min_life + catalog.DAY
    roll = rng.random() * sum(weight for _, weight in _DURATIONS[first:])
    for seconds, weight in _DURATIONS[first:]:
        if roll < weight:
            return seconds
        roll -= weight
    return _DURATIONS[-1][0]


_MULTIPLIERS: Final = (1, 1, 1, 2, 3, 10)


def _volume(rng: Random, terms: int, table: tuple[float, ...]) -> float:
    """A sum of floats, so volumes carry binary noise like ``274.4699999999999``."""
    size = len(table)
    span = size * len(_MULTIPLIERS)
    total = 0.0
    for _ in range(terms):
        roll = int(rng.random() * span)
        total += table[roll % size] * _MULTIPLIERS[roll // size]
    return total


def _issuer(rng: Random) -> tuple[int, int]:
    low, high = catalog.CHARACTER_RANGES[1 if rng.random() < 0.6 else 0]
    issuer_id = between(rng, low, high)
    corp_range = catalog.NPC_CORP_RANGE if rng.random() < 0.15 else catalog.PLAYER_CORP_RANGE
    return issuer_id, between(rng, *corp_range)


def make_contract(
    seed: int,
    contract_id: int,
    region_id: int,
    *,
    issued: int,
    min_life: int,
    born: int,
    pool: RegionPool,
    destinations: tuple[int, ...],
) -> ContractRecord:
    """One contract issued at ``issued`` (epoch seconds) that is still listed ``min_life``
    seconds later. ``destinations`` are extra courier drop-off locations (other hubs)."""
    rng = Random(mix(seed, contract_id, SALT_CONTRACT))
    kind = _contract_type(rng)
    expires = issued + _duration(rng, min_life)
    issuer_id, corporation_id = _issuer(rng)
    start = pool.pick(rng)
    end = start
    title = pick(rng, catalog.TITLES) if rng.random() < 0.12 else ""
    for_corporation = rng.random() < 0.03
    price = reward = collateral = buyout = 0.0
    days_to_complete = 0
    n_items = n_requested = 0
    volume = 0.0

    if kind == "item_exchange":
        if rng.random() < 0.07:  # a buy request: price 0, a reward, only requested items
            reward = round_sig(10 ** rng.uniform(5.0, 10.0), 2)
            n_items = n_requested = between(rng, 1, 3)
        else:
            price = round_sig(10 ** rng.uniform(4.0, 10.5), pick(rng, (2, 2, 3, 3, 4, 8)))
            n_items = item_count(rng)
            if rng.random() < 0.04:
                n_requested = between(rng, 1, 3)
                n_items += n_requested
            volume = _volume(rng, min(n_items - n_requested, 12), catalog.UNIT_VOLUMES)
    elif kind == "auction":
        price = round_sig(10 ** rng.uniform(4.0, 9.5), 2)
        buyout = 0.0 if rng.random() < 0.35 else round_sig(price * rng.uniform(1.2, 6.0), 3)
        n_items = item_count(rng)
        volume = _volume(rng, min(n_items, 12), catalog.UNIT_VOLUMES)
    elif kind == "courier":
        candidates = [loc for loc in (*pool.locations, *destinations) if loc != start]
        end = pick(rng, candidates) if candidates else start
        reward = round_sig(10 ** rng.uniform(5.5, 8.5), 2)
        collateral = 0.0 if rng.random() < 0.15 else round_sig(10 ** rng.uniform(6.0, 9.7), 2)
        days_to_complete = pick(rng, catalog.COURIER_DAYS)
        volume = _volume(rng, between(rng, 1, 13), catalog.COURIER_VOLUMES)
    else:  # loan / unknown: no items on the public route
        price = round_sig(10 ** rng.uniform(6.0, 9.0), 2) if rng.random() < 0.5 else 0.0
        collateral = round_sig(10 ** rng.uniform(6.0, 9.0), 2) if kind == "loan" else 0.0
        volume = _volume(rng, between(rng, 1, 4), catalog.UNIT_VOLUMES)

    body: EsiObject = {}
    if kind == "auction":
        body["buyout"] = esi_number(buyout)
    else:
        body["collateral"] = esi_number(collateral)
    body["contract_id"] = contract_id
    body["date_expired"] = iso_z(expires)
    body["date_issued"] = iso_z(issued)
    body["days_to_complete"] = days_to_complete
    body["end_location_id"] = end
    if for_corporation:
        body["for_corporation"] = True
    body["issuer_corporation_id"] = corporation_id
    body["issuer_id"] = issuer_id
    body["price"] = esi_number(price)
    body["reward"] = esi_number(reward)
    body["start_location_id"] = start
    body["title"] = title
    body["type"] = kind
    body["volume"] = esi_number(volume)
    return ContractRecord(
        contract_id=contract_id,
        region_id=region_id,
        type=kind,
        born=born,
        issued=issued,
        expires=expires,
        price=price,
        n_items=n_items,
        n_requested=n_requested,
        body=body,
    )
