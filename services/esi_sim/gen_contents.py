"""Deterministic items and bids of one contract, shaped exactly like ESI's JSON.

Items are drawn from ``(seed, contract_id)`` alone, so they never change. Bids start from
``(seed, contract_id)`` and each later generation may add one, drawn from
``(seed, contract_id, generation)``.
"""

from __future__ import annotations

from random import Random

from services.esi_sim import catalog
from services.esi_sim.gen_contracts import (
    SALT_BID_GENERATION,
    SALT_BIDS,
    SALT_ITEMS,
    ContractRecord,
    EsiObject,
    esi_number,
    iso_z,
    mix,
    round_sig,
)

_ME_VALUES = tuple(range(11))
_TE_VALUES = tuple(range(0, 21, 2))
_RUNS = (1, 1, 2, 5, 10, 10, 20, 50, 100, 300)


def _offset(contract_id: int) -> int:
    return max(contract_id - catalog.CONTRACT_ID_BASE, 0)


def record_ids(record: ContractRecord) -> list[int]:
    """The ``record_id`` of every item row of the contract, without generating the rows."""
    base = catalog.RECORD_ID_BASE + _offset(record.contract_id) * catalog.RECORD_STRIDE
    return list(range(base, base + record.n_items))


def _quantity(rng: Random, stackable: bool) -> int:
    if not stackable:
        return 1 if rng.random() < 0.85 else rng.randint(2, 20)
    return rng.choice((1, 10, 100, 1000, 2000, 5000, 37319, 100_000, rng.randint(1, 250_000)))


def make_items(seed: int, record: ContractRecord) -> list[EsiObject]:
    """The item rows of a contract, sorted by ``record_id``: included items first, then the
    requested ones (``is_included: false`` and no ``item_id``)."""
    if record.n_items == 0:
        return []
    rng = Random(mix(seed, record.contract_id, SALT_ITEMS))
    offset = _offset(record.contract_id)
    record_base = catalog.RECORD_ID_BASE + offset * catalog.RECORD_STRIDE
    item_base = catalog.ITEM_ID_BASE + offset * catalog.RECORD_STRIDE * 4
    n_included = record.n_items - record.n_requested
    rows: list[EsiObject] = []
    for index in range(record.n_items):
        record_id = record_base + index
        if index >= n_included:
            type_id, stackable = rng.choice(catalog.ITEM_TYPES)
            rows.append(
                {
                    "is_included": False,
                    "quantity": _quantity(rng, stackable),
                    "record_id": record_id,
                    "type_id": type_id,
                }
            )
            continue
        item_id = item_base + index * 4 + rng.randrange(4)
        if rng.random() < 0.10:
            rows.append(_blueprint(rng, record_id, item_id))
            continue
        type_id, stackable = rng.choice(catalog.ITEM_TYPES)
        rows.append(
            {
                "is_included": True,
                "item_id": item_id,
                "quantity": _quantity(rng, stackable),
                "record_id": record_id,
                "type_id": type_id,
            }
        )
    return rows


def _blueprint(rng: Random, record_id: int, item_id: int) -> EsiObject:
    """A blueprint copy (``is_blueprint_copy`` + ``runs``) or an original (ME/TE, no runs)."""
    type_id = rng.choice(catalog.BLUEPRINT_TYPES)
    material = rng.choice(_ME_VALUES)
    time_eff = rng.choice(_TE_VALUES)
    if rng.random() < 0.8:
        return {
            "is_blueprint_copy": True,
            "is_included": True,
            "item_id": item_id,
            "material_efficiency": material,
            "quantity": 1,
            "record_id": record_id,
            "runs": rng.choice(_RUNS),
            "time_efficiency": time_eff,
            "type_id": type_id,
        }
    return {
        "is_included": True,
        "item_id": item_id,
        "material_efficiency": material,
        "quantity": 1,
        "record_id": record_id,
        "time_efficiency": time_eff,
        "type_id": type_id,
    }


def _bid(record: ContractRecord, index: int, when: int, amount: float) -> EsiObject:
    return {
        "amount": esi_number(amount),
        "bid_id": catalog.BID_ID_BASE + _offset(record.contract_id) * catalog.BID_STRIDE + index,
        "date_bid": iso_z(when),
    }


def _raise(rng: Random, record: ContractRecord, bids: list[EsiObject]) -> float:
    if not bids:
        return round_sig(max(record.price, 1000.0) * rng.uniform(1.0, 1.3), 3)
    return round_sig(float(bids[-1]["amount"]) * rng.uniform(1.02, 1.4), 3)


def initial_bids(seed: int, record: ContractRecord, seen_at: int) -> list[EsiObject]:
    """0-5 bids placed between the contract's issue and ``seen_at`` (its first generation's
    start), oldest first."""
    rng = Random(mix(seed, record.contract_id, SALT_BIDS))
    count = rng.choices(range(len(catalog.BID_WEIGHTS)), catalog.BID_WEIGHTS)[0]
    latest = max(seen_at, record.issued)
    times = sorted(rng.randint(record.issued, latest) for _ in range(count))
    bids: list[EsiObject] = []
    for when in times:
        bids.append(_bid(record, len(bids), when, _raise(rng, record, bids)))
    return bids


def generation_bid(
    seed: int,
    record: ContractRecord,
    generation: int,
    *,
    after: int,
    before: int,
    bids: list[EsiObject],
) -> EsiObject | None:
    """The bid placed between two generation starts (``after``, ``before``), if any."""
    if len(bids) >= catalog.BID_STRIDE:
        return None
    rng = Random(mix(seed, record.contract_id, SALT_BID_GENERATION + generation))
    if rng.random() >= catalog.BID_CHANCE_PER_GENERATION:
        return None
    when = rng.randint(min(after, before), before)
    return _bid(record, len(bids), when, _raise(rng, record, bids))
