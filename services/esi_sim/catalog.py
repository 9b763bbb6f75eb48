"""Static data the simulator draws from: id ranges, type ids, titles, hubs and regions.

Nothing here is random; :mod:`services.esi_sim.generate` picks from these tables with seeded
generators.
"""

from __future__ import annotations

from typing import Final

MASK64: Final = (1 << 64) - 1

CONTRACT_ID_BASE: Final = 230_000_000
"""First contract ids sit a little above this (real ids were ~2.34e8 in 2026)."""
RECORD_ID_BASE: Final = 4_000_000_000
"""Item ``record_id`` = base + (contract_id - CONTRACT_ID_BASE) * RECORD_STRIDE + index."""
RECORD_STRIDE: Final = 4096
"""Room for this many items per contract, so record ids stay unique without a counter."""
ITEM_ID_BASE: Final = 1_030_000_000_000
BID_ID_BASE: Final = 6_000_000
BID_STRIDE: Final = 64
"""At most this many bids per contract; bid ids stay unique without a counter."""

DAY: Final = 86_400
DURATION_DAYS: Final = (1, 3, 7, 14, 28)
DURATION_WEIGHTS: Final = (8, 12, 25, 25, 30)
COURIER_DAYS: Final = (1, 3, 5, 7, 14, 30)
MAX_AGE: Final = 27 * DAY
"""Initial contracts were issued at most this long before the world's start."""

ITEMS_CACHE_SECONDS: Final = 3600
BIDS_CACHE_SECONDS: Final = 300

DEFAULT_REGIONS: Final[dict[int, int]] = {10000002: 3000, 10000043: 1000, 10000032: 800}
EMPTY_REGIONS: Final = (10000001, 10000016, 10000030, 10000042)
"""Valid regions without contracts that the simulated ``/universe/regions`` also lists."""

HUBS: Final[dict[int, int]] = {
    10000002: 60003760,  # Jita IV - Moon 4 - Caldari Navy Assembly Plant
    10000043: 60008494,  # Amarr VIII (Oris) - Emperor Family Academy
    10000032: 60011866,  # Dodixie IX - Moon 20 - Federation Navy Assembly Plant
    10000030: 60004588,  # Rens VI - Moon 8 - Brutor Tribe Treasury
    10000042: 60005686,  # Hek VIII - Moon 12 - Boundless Creation Factory
}
STATION_RANGE: Final = (60_000_004, 60_015_000)
STRUCTURE_RANGE: Final = (1_020_000_000_000, 1_050_000_000_000)
"""Upwell structure ids: int64, far above 2**32."""
STATIONS_PER_REGION: Final = 14
STRUCTURES_PER_REGION: Final = 6

CHARACTER_RANGES: Final = ((90_000_000, 98_000_000), (2_112_000_000, 2_124_000_000))
PLAYER_CORP_RANGE: Final = (98_000_000, 98_800_000)
NPC_CORP_RANGE: Final = (1_000_002, 1_000_183)

TITLES: Final = (
    "WTB Charon 4,60 Billion",
    "29 frozen corpses",
    "high rof! 27.2 dps",
    "Nag + fuel",
    "fitted",
    "cheap!!",
    "Skill Injectors x5",
    "Mining Barge Package",
    "BPC pack",
    "Abyssal loot",
    "PLEX",
    "Jita -> Amarr",
    "Überladung ★",
    "ракетные модули",
)

# (type_id, stackable) — a small, plausible mix of ships, modules, charges and materials.
ITEM_TYPES: Final[tuple[tuple[int, bool], ...]] = (
    (587, False),  # Rifter
    (24690, False),  # Drake
    (17740, False),  # Vindicator
    (19722, False),  # Naglfar
    (28352, False),  # Rorqual
    (11978, False),  # Scimitar
    (2048, False),  # Damage Control II
    (3841, False),  # Large Shield Extender II
    (2364, False),  # Tracking Enhancer II
    (31768, False),  # Large Ancillary Current Router I
    (31762, False),  # Large Capacitor Control Circuit I
    (31726, False),  # Large Anti-Kinetic Pump I
    (40520, False),  # Large Skill Injector
    (44992, True),  # PLEX
    (34, True),  # Tritanium
    (35, True),  # Pyerite
    (36, True),  # Mexallon
    (37, True),  # Isogen
    (16275, True),  # Strontium Clathrates
    (17889, True),  # Hydrogen Isotopes
    (21898, True),  # Republic Fleet EMP L
    (12779, True),  # Hail M
    (2446, True),  # Hobgoblin II
    (33477, False),  # Mobile Tractor Unit
    (20185, False),  # Charon
    (47270, False),  # Abyssal modules (mutated)
)

BLUEPRINT_TYPES: Final = (945, 941, 2007, 1334, 17357, 32877, 32873, 16239, 691, 1040, 2047)

UNIT_VOLUMES: Final = (0.01, 0.1, 0.2, 0.22, 0.25, 0.33, 1.0, 2.5, 5.0, 10.0, 0.0125, 3.2, 2500.0)
COURIER_VOLUMES: Final = (0.01, 0.1, 1.5, 2.5, 5.0, 10.0, 25.0, 100.0, 1000.0, 2500.0, 0.35)

BID_WEIGHTS: Final = (40, 25, 15, 10, 6, 4)
"""Weights of 0..5 initial bids on an auction."""
BID_CHANCE_PER_GENERATION: Final = 0.15
