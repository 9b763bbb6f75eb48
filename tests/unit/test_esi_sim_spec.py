"""The ESI simulator against ESI's OpenAPI spec: every route it serves answers, success and
error alike, with the body the spec's schema of that route allows (and no key it does not
declare), and the reference routes agree with each other (a station's system, the system's
constellation, its region; ``POST /universe/names`` for every id a contract carries)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import httpx
import pytest
from fastapi import APIRouter
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from common.db import FIRST_STRUCTURE_ID
from services.esi_sim import catalog
from tests.support.esi_spec import spec, spec_errors
from tests.support.sim import SIM_BASE_URL, Sim

FORGE, DOMAIN = 10000002, 10000043
JITA_STATION, JITA = 60003760, 30000142
RIFTER, RIFTER_BLUEPRINT, TRITANIUM = 587, 691, 34
FRIGATE, SHIP = 25, 6
UNKNOWN_TYPE = 1_999_999_999

#: The routes the tests below call, as the spec writes them: every route the simulator serves.
SPEC_ROUTES = {
    "/universe/types/{type_id}",
    "/universe/groups/{group_id}",
    "/universe/categories/{category_id}",
    "/universe/stations/{station_id}",
    "/universe/systems/{system_id}",
    "/universe/constellations/{constellation_id}",
    "/universe/regions/{region_id}",
    "/universe/structures/{structure_id}",
    "/universe/names",
    "/universe/regions",
    "/contracts/public/{region_id}",
    "/contracts/public/items/{contract_id}",
    "/contracts/public/bids/{contract_id}",
}


@pytest.fixture(scope="module")
def sim() -> Sim:
    return Sim.build({FORGE: 300, DOMAIN: 100})


@pytest.fixture
async def client(sim: Sim) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=sim.transport, base_url=SIM_BASE_URL) as client:
        yield client


async def answer(
    client: httpx.AsyncClient,
    template: str,
    path: str,
    status: int,
    *,
    method: str = "GET",
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> Any:
    """Call ``path``, check its status and that its body is what the spec allows for
    ``template``; the parsed body (``None`` without one)."""
    assert template in SPEC_ROUTES
    response = await client.request(method, path, json=body, headers=headers)
    assert response.status_code == status, response.text
    assert spec_errors(template, method, status, response.content) == []
    return response.json() if response.content else None


def locations(sim: Sim) -> set[int]:
    return {
        location
        for region in sim.world.region_ids()
        for contract in sim.world.contracts(region)
        for location in (contract["start_location_id"], contract["end_location_id"])
    }


async def test_types_groups_and_categories_have_the_spec_shapes(
    client: httpx.AsyncClient,
) -> None:
    types = "/universe/types/{type_id}"
    rifter = await answer(client, types, f"/universe/types/{RIFTER}", 200)
    assert (rifter["name"], rifter["group_id"]) == ("Rifter", FRIGATE)
    blueprint = await answer(client, types, f"/universe/types/{RIFTER_BLUEPRINT}", 200)
    assert blueprint["name"] == "Rifter Blueprint"
    await answer(client, types, f"/universe/types/{TRITANIUM}", 200)
    groups = "/universe/groups/{group_id}"
    frigate = await answer(client, groups, f"/universe/groups/{FRIGATE}", 200)
    assert (frigate["name"], frigate["category_id"]) == ("Frigate", SHIP)
    categories = "/universe/categories/{category_id}"
    assert (await answer(client, categories, f"/universe/categories/{SHIP}", 200))["name"] == (
        "Ship"
    )
    for template, prefix in (
        (types, "/universe/types"),
        (groups, "/universe/groups"),
        (categories, "/universe/categories"),
    ):
        missing = await answer(client, template, f"{prefix}/{UNKNOWN_TYPE}", 404)
        assert missing["error"]
        for bad in ("abc", "-5", "²", "1" * 20):
            await answer(client, template, f"{prefix}/{bad}", 400)


async def test_places_have_the_spec_shapes_and_lead_from_station_to_region(
    sim: Sim, client: httpx.AsyncClient
) -> None:
    stations = sorted(i for i in locations(sim) if i < FIRST_STRUCTURE_ID)
    assert JITA_STATION in stations
    assert len(stations) > 5  # simulated stations beside the hubs
    systems: set[int] = set()
    for station_id in stations:
        station = await answer(
            client, "/universe/stations/{station_id}", f"/universe/stations/{station_id}", 200
        )
        assert station["station_id"] == station_id
        systems.add(station["system_id"])
    assert JITA in systems
    constellations: set[int] = set()
    for system_id in sorted(systems):
        system = await answer(
            client, "/universe/systems/{system_id}", f"/universe/systems/{system_id}", 200
        )
        assert -1.0 <= system["security_status"] <= 1.0
        constellations.add(system["constellation_id"])
    regions: set[int] = set()
    for constellation_id in sorted(constellations):
        constellation = await answer(
            client,
            "/universe/constellations/{constellation_id}",
            f"/universe/constellations/{constellation_id}",
            200,
        )
        regions.add(constellation["region_id"])
        for system_id in constellation["systems"]:
            system = (await client.get(f"/universe/systems/{system_id}")).json()
            assert system["constellation_id"] == constellation_id
    assert {FORGE, DOMAIN} <= regions
    for region_id in sorted(regions):
        region = await answer(
            client, "/universe/regions/{region_id}", f"/universe/regions/{region_id}", 200
        )
        assert set(region["constellations"]) & constellations
    jita = (await client.get(f"/universe/systems/{JITA}")).json()
    assert (jita["name"], jita["security_status"]) == ("Jita", 0.9459)
    assert JITA_STATION in jita["stations"]


@pytest.mark.parametrize(
    ("template", "prefix"),
    [
        ("/universe/stations/{station_id}", "/universe/stations"),
        ("/universe/systems/{system_id}", "/universe/systems"),
        ("/universe/constellations/{constellation_id}", "/universe/constellations"),
        ("/universe/regions/{region_id}", "/universe/regions"),
    ],
)
async def test_unknown_and_malformed_place_ids_get_esi_errors(
    client: httpx.AsyncClient, template: str, prefix: str
) -> None:
    missing = await answer(client, template, f"{prefix}/1", 404)
    assert "not found" in missing["error"]
    await answer(client, template, f"{prefix}/x1", 400)


async def test_player_structures_need_a_token_and_the_simulator_is_on_no_access_list(
    sim: Sim, client: httpx.AsyncClient
) -> None:
    template = "/universe/structures/{structure_id}"
    structures = sorted(i for i in locations(sim) if i >= FIRST_STRUCTURE_ID)
    assert structures
    for structure_id in structures[:3]:
        path = f"/universe/structures/{structure_id}"
        await answer(client, template, path, 401)
        await answer(client, template, path, 403, headers={"Authorization": "Bearer token"})


async def test_names_resolve_every_id_a_contract_carries_in_the_spec_shape(
    sim: Sim, client: httpx.AsyncClient
) -> None:
    template = "/universe/names"
    contracts = sim.world.contracts(FORGE)[:100]
    parties = {c[key] for c in contracts for key in ("issuer_id", "issuer_corporation_id")}
    stations = {i for i in locations(sim) if i < FIRST_STRUCTURE_ID}
    places = [FORGE, DOMAIN, JITA, 21_900_002]  # regions, a system, a constellation
    ids = sorted({*parties, *stations, *places, RIFTER})
    names = await answer(client, template, template, 200, method="POST", body=ids)
    assert sorted(n["id"] for n in names) == ids
    by_id = {n["id"]: n for n in names}
    assert by_id[FORGE]["category"] == "region"
    assert by_id[JITA] == {"category": "solar_system", "id": JITA, "name": "Jita"}
    assert by_id[JITA_STATION]["category"] == "station"
    assert by_id[RIFTER] == {"category": "inventory_type", "id": RIFTER, "name": "Rifter"}
    assert {by_id[i]["category"] for i in parties} <= {"character", "corporation"}
    for station_id in stations:
        station = (await client.get(f"/universe/stations/{station_id}")).json()
        assert by_id[station_id]["name"] == station["name"]


async def test_names_refuse_the_whole_request_for_one_unknown_id(
    client: httpx.AsyncClient,
) -> None:
    template = "/universe/names"
    refused = await answer(
        client, template, template, 404, method="POST", body=[FORGE, JITA_STATION, UNKNOWN_TYPE]
    )
    assert refused == {"error": "Ensure all IDs are valid before resolving."}
    structure = catalog.STRUCTURE_RANGE[0] + 1
    await answer(client, template, template, 404, method="POST", body=[FORGE, structure])
    for bad in ([], ["x"], [True], list(range(1, 1002)), {"ids": [FORGE]}):
        await answer(client, template, template, 400, method="POST", body=bad)


async def test_contract_routes_have_the_spec_shapes(sim: Sim, client: httpx.AsyncClient) -> None:
    regions = await answer(client, "/universe/regions", "/universe/regions", 200)
    assert FORGE in regions
    listing = "/contracts/public/{region_id}"
    contracts = await answer(client, listing, f"/contracts/public/{FORGE}", 200)
    assert len(contracts) == 300
    await answer(client, listing, "/contracts/public/10000999", 404)
    await answer(client, listing, f"/contracts/public/{FORGE}?page=9", 404)
    await answer(client, listing, f"/contracts/public/{FORGE}?page=0", 400)
    items = "/contracts/public/items/{contract_id}"
    bids = "/contracts/public/bids/{contract_id}"
    by_type: dict[str, int] = {}
    for contract in contracts:
        by_type.setdefault(contract["type"], contract["contract_id"])
    for kind in ("item_exchange", "auction"):
        await answer(client, items, f"/contracts/public/items/{by_type[kind]}", 200)
    await answer(client, bids, f"/contracts/public/bids/{by_type['auction']}", 200)
    gone = catalog.CONTRACT_ID_BASE - 1
    await answer(client, items, f"/contracts/public/items/{gone}", 204)
    await answer(client, bids, f"/contracts/public/bids/{gone}", 204)
    assert sim.world.items(gone) is None


def route_paths(routes: Sequence[BaseRoute]) -> Iterator[str]:
    """The paths of the app's routes, in included routers too (FastAPI keeps those behind
    a route of their own that names the router it includes)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route.path
        included = getattr(route, "original_router", None)
        if isinstance(included, APIRouter):
            yield from route_paths(included.routes)


def test_every_route_the_simulator_serves_is_one_the_tests_check(sim: Sim) -> None:
    served = {
        path
        for path in route_paths(sim.app.routes)
        # the same endpoints under ESI's legacy prefixes and with a slash; the admin routes
        if not path.startswith(("/v1/", "/v2/", "/v3/", "/latest/", "/_sim"))
        and not path.endswith("/")
    }
    assert set(spec()["paths"]) >= SPEC_ROUTES

    def shape(path: str) -> str:
        return re.sub(r"\{[a-z_]+\}", "{}", path)

    assert {shape(path) for path in served} == {shape(path) for path in SPEC_ROUTES}
