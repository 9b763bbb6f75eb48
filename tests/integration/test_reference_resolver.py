"""The fetcher resolves the names of new contracts' places and parties (and types newer than
the SDE) through the simulated ESI, publishes them as reference messages, each id once; the
persister's apply code turns them into names and derived fields."""

from __future__ import annotations

import asyncpg
import httpx

from common.db import asyncpg_dsn
from common.messages import ContractsBatch, ReferenceData
from common.settings import HangarSettings
from services.fetcher.main import fetcher_resources, run_once
from services.fetcher.resolver import SdeIds
from services.persister.applier import Delivery, apply_deliveries
from tests.integration.test_fetcher import fetcher_settings
from tests.support.sim import SIM_BASE_URL, Sim
from tests.support.stream import jetstream, stream_messages

JITA_STATION = 60003760


async def _messages(settings: HangarSettings) -> list[tuple[str, object]]:
    async with jetstream(settings) as (_, js):
        return list(await stream_messages(js, settings))


async def test_names_are_resolved_once_published_and_applied(settings: HangarSettings) -> None:
    sim = Sim.build({10000002: 60})
    fetcher = fetcher_settings(settings, regions=[10000002])
    async with fetcher_resources(fetcher, sim.transport) as resources:
        await run_once(resources)
        first = await _messages(settings)
        await sim.admin("POST", "/advance")
        await run_once(resources)
        second = await _messages(settings)
    references = [m for _, m in first if isinstance(m, ReferenceData)]
    assert len(references) >= 1
    stations = {s.station_id: s for r in references for s in r.stations}
    assert stations[JITA_STATION].name == "Jita IV - Moon 4 - Caldari Navy Assembly Plant"
    systems = {s.system_id: s.name for r in references for s in r.systems}
    assert systems[30000142] == "Jita"
    names = {n.id: n for r in references for n in r.names}
    assert names[10000002].name == "The Forge"
    contracts = [c for _, m in first if isinstance(m, ContractsBatch) for c in m.contracts]
    issuers = {c.issuer_id for c in contracts}
    assert issuers <= names.keys()  # every issuer named
    # each id once: the next cycle's reference messages hold only what is new
    later = [m for _, m in second[len(first) :] if isinstance(m, ReferenceData)]
    resolved_before = set(names) | set(stations)
    for message in later:
        assert not ({n.id for n in message.names} | {s.station_id for s in message.stations}) & (
            resolved_before
        )

    pool = await asyncpg.create_pool(asyncpg_dsn(settings.database_url), min_size=1, max_size=2)
    try:
        deliveries = [
            Delivery(m.to_json(), subject)  # type: ignore[attr-defined]
            for subject, m in second
        ]
        outcome = await apply_deliveries(pool, deliveries)
        assert outcome.rejected == []
        async with pool.acquire() as connection:
            named = await connection.fetchval(
                "SELECT count(*) FROM contracts AS c JOIN stations AS s"
                " ON s.station_id = c.start_location_id"
            )
            at_jita = await connection.fetchval(
                "SELECT count(*) FROM contracts WHERE start_location_id = $1", JITA_STATION
            )
            couriers = await connection.fetch(
                "SELECT primary_label FROM contracts WHERE type = 'courier' AND item_count = 0"
                " AND coalesce(title, '') = ''"
            )
    finally:
        await pool.close()
    assert at_jita > 0
    assert named >= at_jita
    assert all(r["primary_label"].startswith("Courier: ") for r in couriers)
    assert not any("Location " in r["primary_label"] for r in couriers if r["primary_label"])


async def test_the_simulator_names_types_from_the_sde() -> None:
    sim = Sim.build({10000002: 1})
    async with httpx.AsyncClient(transport=sim.transport, base_url=SIM_BASE_URL) as client:
        vexor = (await client.get("/universe/types/17843")).json()
        assert (vexor["name"], vexor["group_id"]) == ("Vexor Navy Issue", 26)
        group = (await client.get("/universe/groups/26")).json()
        assert (group["name"], group["category_id"]) == ("Cruiser", 6)
        assert (await client.get("/universe/categories/6")).json()["name"] == "Ship"
        assert (await client.get("/universe/types/1999999999")).status_code == 404
        names = await client.post("/universe/names", json=[10000002, 60003760])
        assert {n["name"] for n in names.json()} == {
            "The Forge",
            "Jita IV - Moon 4 - Caldari Navy Assembly Plant",
        }
        assert (
            await client.post("/universe/names", json=[10000002, 1999999999])
        ).status_code == 404
    sde = SdeIds.pinned()
    assert 17843 in sde.types
