"""The simulated universe: public contracts per region, advancing in cache generations.

Pure in-memory and deterministic: the same ``seed``, ``regions``, ``start`` and sequence of
``advance`` calls always give the same contracts, items and bids. No I/O.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from random import Random
from typing import Any

from services.esi_sim import catalog
from services.esi_sim.gen_contents import generation_bid, initial_bids, make_items, record_ids
from services.esi_sim.gen_contracts import (
    ContractRecord,
    EsiObject,
    RegionPool,
    make_contract,
    make_pool,
    mix,
)

logger = logging.getLogger(__name__)

_SALT_BIG = 5
_BIG_ITEMS = (1200, 2500)


def _to_ts(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


class SimWorld:
    """Public contracts of a few regions, as ESI's cache would show them, one generation at a
    time.

    ``regions`` maps region id to its number of contracts at generation 0. ``big_contracts``
    item exchanges of the first region get 1200-2500 items (2-3 item pages). ``start`` is the
    start of generation 0 (default: now, to the second); ``advance`` starts the next one.
    """

    def __init__(
        self,
        seed: int = 1,
        regions: dict[int, int] | None = None,
        churn_per_generation: int = 50,
        big_contracts: int = 0,
        start: datetime | None = None,
        cache_seconds: int = 1800,
    ) -> None:
        self.seed = seed
        self.cache_seconds = cache_seconds
        self.churn_per_generation = max(churn_per_generation, 0)
        sizes = dict(catalog.DEFAULT_REGIONS if regions is None else regions)
        start_ts = _to_ts(start if start is not None else datetime.now(UTC))
        self._rng = Random(seed)
        self._starts: list[int] = [start_ts]
        self._pools: dict[int, RegionPool] = {r: make_pool(seed, r) for r in sizes}
        self._destinations = tuple(pool.locations[0] for pool in self._pools.values())
        self._listing: dict[int, dict[int, ContractRecord]] = {r: {} for r in sizes}
        self._by_id: dict[int, ContractRecord] = {}
        self._views: dict[int, list[EsiObject]] = {}
        self._items: dict[int, list[EsiObject]] = {}
        self._bids: dict[int, tuple[int, list[EsiObject]]] = {}
        self._next_id = catalog.CONTRACT_ID_BASE + self._rng.randrange(100_000)
        self._populate(sizes)
        self._make_big(max(big_contracts, 0))

    # -- generation --------------------------------------------------------------------------

    @property
    def generation(self) -> int:
        return len(self._starts) - 1

    def last_modified(self, region_id: int | None = None) -> datetime:
        """Start of the current generation: the ``Last-Modified`` of every region's listing."""
        del region_id  # every region refreshes at the same moment
        return datetime.fromtimestamp(self._starts[-1], UTC)

    def advance(self, now: datetime | None = None) -> int:
        """Start the next generation at ``now`` (default: one cache period later).

        In every region ``churn_per_generation`` contracts disappear (expired ones first, then
        random ones: accepted or withdrawn) and about as many new ones, with higher ids, are
        issued during the elapsed period. Auctions may receive bids. Returns the generation.
        """
        previous = self._starts[-1]
        new_start = _to_ts(now) if now is not None else previous + self.cache_seconds
        new_start = max(new_start, previous + 1)
        self._starts.append(new_start)
        added_per_region: list[int] = []
        for region_id, listing in self._listing.items():
            removed = self._remove(listing, new_start)
            jitter = removed // 10
            added = removed + self._rng.randint(-jitter, jitter) if removed else 0
            added_per_region.extend([region_id] * added)
        self._rng.shuffle(added_per_region)
        window = min(new_start - previous, self.cache_seconds)
        issued = sorted(new_start - int(self._rng.random() * window) for _ in added_per_region)
        for region_id, when in zip(added_per_region, issued, strict=True):
            self._add(region_id, when, new_start - when, self.generation)
        self._views.clear()
        logger.debug("esi_sim generation %d: %d contracts", self.generation, len(self._by_id))
        return self.generation

    # -- reads ------------------------------------------------------------------------------

    def region_ids(self) -> list[int]:
        """The world's regions, in configuration order."""
        return list(self._listing)

    def universe_region_ids(self) -> list[int]:
        """What the simulated ``/universe/regions`` lists: the world's regions plus a few
        valid regions without contracts."""
        return sorted({*self._listing, *catalog.EMPTY_REGIONS})

    def is_region(self, region_id: int) -> bool:
        return region_id in self._listing or region_id in catalog.EMPTY_REGIONS

    def contracts(self, region_id: int) -> list[EsiObject]:
        """The region's current listing, sorted by ``contract_id`` (``[]`` for other regions).

        The dicts are shared with the world: do not mutate them.
        """
        view = self._views.get(region_id)
        if view is None:
            listing = self._listing.get(region_id, {})
            view = [record.body for record in listing.values()]
            self._views[region_id] = view
        return list(view)

    def contract_type(self, contract_id: int) -> str | None:
        record = self._by_id.get(contract_id)
        return None if record is None else record.type

    def items(self, contract_id: int) -> list[EsiObject] | None:
        """The contract's items; ``None`` if it is not listed (never existed, or gone)."""
        record = self._by_id.get(contract_id)
        if record is None:
            return None
        rows = self._items.get(contract_id)
        if rows is None:
            rows = make_items(self.seed, record)
            self._items[contract_id] = rows
        return list(rows)

    def bids(self, contract_id: int) -> list[EsiObject] | None:
        """The contract's bids as of the current generation; ``None`` if it is not listed."""
        record = self._by_id.get(contract_id)
        if record is None:
            return None
        return list(self._bids_of(record))

    def truth(self) -> dict[str, Any]:
        """Everything listed now, for tests: ``{"generation", "regions": {region: {contract:
        {"type", "items": [record_id...], "bids": [bid_id...]}}}}`` (ids as strings)."""
        regions: dict[str, dict[str, dict[str, Any]]] = {}
        for region_id, listing in self._listing.items():
            regions[str(region_id)] = {
                str(contract_id): {
                    "type": record.type,
                    "items": record_ids(record),
                    "bids": [bid["bid_id"] for bid in self._bids_of(record)],
                }
                for contract_id, record in listing.items()
            }
        return {"generation": self.generation, "regions": regions}

    # -- internals --------------------------------------------------------------------------

    def _populate(self, sizes: dict[int, int]) -> None:
        labels = [region_id for region_id, count in sizes.items() for _ in range(max(count, 0))]
        self._rng.shuffle(labels)
        ages = sorted(
            (int(catalog.MAX_AGE * self._rng.random() ** 2) for _ in labels), reverse=True
        )
        start = self._starts[0]
        for region_id, age in zip(labels, ages, strict=True):
            self._add(region_id, start - age, age, 0)

    def _make_big(self, count: int) -> None:
        if count == 0 or not self._listing:
            return
        rng = Random(mix(self.seed, 0, _SALT_BIG))
        first = next(iter(self._listing.values()))
        candidates = [
            record
            for record in first.values()
            if record.type == "item_exchange" and record.n_requested == 0
        ]
        for record in rng.sample(candidates, min(count, len(candidates))):
            record.n_items = rng.randint(*_BIG_ITEMS)

    def _add(self, region_id: int, issued: int, min_life: int, born: int) -> None:
        self._next_id += self._rng.randint(1, 60)
        record = make_contract(
            self.seed,
            self._next_id,
            region_id,
            issued=issued,
            min_life=min_life,
            born=born,
            pool=self._pools[region_id],
            destinations=self._destinations,
        )
        self._listing[region_id][record.contract_id] = record
        self._by_id[record.contract_id] = record

    def _remove(self, listing: dict[int, ContractRecord], now: int) -> int:
        count = min(self.churn_per_generation, len(listing))
        if count == 0:
            return 0
        expired = [cid for cid, record in listing.items() if record.expires <= now]
        if len(expired) >= count:
            doomed = self._rng.sample(expired, count)
        else:
            gone = set(expired)
            alive = [cid for cid in listing if cid not in gone]
            doomed = expired + self._rng.sample(alive, count - len(expired))
        for contract_id in doomed:
            del listing[contract_id]
            del self._by_id[contract_id]
            self._items.pop(contract_id, None)
            self._bids.pop(contract_id, None)
        return count

    def _bids_of(self, record: ContractRecord) -> list[EsiObject]:
        if record.type != "auction":
            return []
        cached = self._bids.get(record.contract_id)
        if cached is None:
            upto, bids = record.born, initial_bids(self.seed, record, self._starts[record.born])
        else:
            upto, bids = cached
        for generation in range(upto + 1, self.generation + 1):
            bid = generation_bid(
                self.seed,
                record,
                generation,
                after=self._starts[generation - 1],
                before=self._starts[generation],
                bids=bids,
            )
            if bid is not None:
                bids.append(bid)
        self._bids[record.contract_id] = (self.generation, bids)
        return bids
