"""Places with their real names and ids (regions, constellations, systems, NPC stations), a
structure with a name, and a character whose name looks like a place, as reference data, and
a way to load them through the persister's apply code."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg

from common.db import FIRST_STRUCTURE_ID, asyncpg_dsn
from common.messages import (
    ReferenceConstellation,
    ReferenceData,
    ReferenceName,
    ReferenceStation,
    ReferenceSystem,
)
from services.persister.reference import apply_reference

THE_FORGE, DOMAIN = 10000002, 10000043
KIMOTORO, THRONE_WORLDS = 20000020, 20000322
JITA, PERIMETER, AMARR = 30000142, 30000144, 30002187
JITA_44, JITA_STATION_2, AMARR_VIII = 60003760, 60003466, 60008494
JITA_KEEPSTAR = FIRST_STRUCTURE_ID + 1
JITA_44_NAME = "Jita IV - Moon 4 - Caldari Navy Assembly Plant"
AMARR_VIII_NAME = "Amarr VIII (Oris) - Emperor Family Academy"

PLACES = ReferenceData(
    resolved_at=datetime(2026, 11, 1, tzinfo=UTC),
    constellations=[
        ReferenceConstellation(constellation_id=KIMOTORO, name="Kimotoro", region_id=THE_FORGE),
        ReferenceConstellation(
            constellation_id=THRONE_WORLDS, name="Throne Worlds", region_id=DOMAIN
        ),
    ],
    systems=[
        ReferenceSystem(
            system_id=JITA, name="Jita", constellation_id=KIMOTORO, security_status=0.946
        ),
        ReferenceSystem(
            system_id=PERIMETER, name="Perimeter", constellation_id=KIMOTORO, security_status=0.95
        ),
        ReferenceSystem(
            system_id=AMARR, name="Amarr", constellation_id=THRONE_WORLDS, security_status=1.0
        ),
    ],
    stations=[
        ReferenceStation(station_id=JITA_44, name=JITA_44_NAME, system_id=JITA),
        ReferenceStation(
            station_id=JITA_STATION_2,
            name="Jita IV - Moon 5 - Prompt Delivery Storage",
            system_id=JITA,
        ),
        ReferenceStation(station_id=AMARR_VIII, name=AMARR_VIII_NAME, system_id=AMARR),
    ],
    names=[
        ReferenceName(id=THE_FORGE, name="The Forge", category="region"),
        ReferenceName(id=DOMAIN, name="Domain", category="region"),
        ReferenceName(id=JITA_KEEPSTAR, name="Jita - Keepstar", category="structure"),
        ReferenceName(id=90000002, name="Jita Trader", category="character"),
    ],
)


async def load_places(database_url: str) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        async with connection.transaction():
            await apply_reference(connection, PLACES)
    finally:
        await connection.close()
