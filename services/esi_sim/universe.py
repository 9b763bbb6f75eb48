"""The simulator's ``/universe`` reference routes, in ESI's shapes (the 2025-12-16 OpenAPI
spec's schemas, checked by ``tests/unit/test_esi_sim_spec.py``): types, groups and categories
from the pinned SDE (real names), stations, systems, constellations and regions, the player
structure route (401 without a token, 403 with one: the simulator keeps no access lists) and
``POST /universe/names`` (404 for the whole request when one id is unknown, as ESI does).

Only the five trade hubs are real places: their station, system, security and region ids and
names. The project's ESI material (``../shared/esi``) holds no other station's name, so other
station ids get a simulated station in a simulated system of a simulated constellation (ids
outside ESI's ranges), and what ESI returns beyond the ids and names (positions, station
services, reprocessing) is a placeholder of the right shape.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any, Final

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from common.sde.reader import SdeCatalog, pinned_sde_path, read_catalog_file
from services.esi_sim import catalog

#: station -> (name, system); system -> (name, constellation, security, region)
HUB_STATIONS: Final[dict[int, tuple[str, int]]] = {
    60003760: ("Jita IV - Moon 4 - Caldari Navy Assembly Plant", 30000142),
    60008494: ("Amarr VIII (Oris) - Emperor Family Academy", 30002187),
    60011866: ("Dodixie IX - Moon 20 - Federation Navy Assembly Plant", 30002659),
    60004588: ("Rens VI - Moon 8 - Brutor Tribe Treasury", 30002510),
    60005686: ("Hek VIII - Moon 12 - Boundless Creation Factory", 30002053),
}
HUB_SYSTEMS: Final[dict[int, tuple[str, float, int]]] = {
    30000142: ("Jita", 0.9459, 10000002),
    30002187: ("Amarr", 1.0, 10000043),
    30002659: ("Dodixie", 0.8709, 10000032),
    30002510: ("Rens", 0.9, 10000030),
    30002053: ("Hek", 0.5, 10000042),
}
REGION_NAMES: Final[dict[int, str]] = {
    10000001: "Derelik",
    10000002: "The Forge",
    10000016: "Lonetrek",
    10000030: "Heimatar",
    10000032: "Sinq Laison",
    10000042: "Metropolis",
    10000043: "Domain",
}
#: Simulated systems and constellations (ids of their own, outside ESI's ranges' use here).
SIM_SYSTEM_BASE: Final = 31_900_000
SIM_CONSTELLATION_BASE: Final = 21_900_000

NAMES_UNKNOWN: Final = "Ensure all IDs are valid before resolving."
STRUCTURE_UNAUTHORIZED: Final = "authorization not provided"
STRUCTURE_FORBIDDEN: Final = "Forbidden"
_ID: Final = re.compile(r"[0-9]{1,19}")


@functools.cache
def _sde() -> SdeCatalog:
    return read_catalog_file(pinned_sde_path())


@functools.cache
def _indexes() -> tuple[dict[int, Any], dict[int, Any], dict[int, Any]]:
    sde = _sde()
    return (
        {t.type_id: t for t in sde.types},
        {g.group_id: g for g in sde.groups},
        {c.category_id: c for c in sde.categories},
    )


def _json(body: object, status: int = 200) -> Response:
    return Response(
        orjson.dumps(body),
        status_code=status,
        media_type="application/json",
        headers={"Cache-Control": "public, max-age=86400"},
    )


def _not_found(what: str) -> Response:
    return _json({"error": f"{what} not found"}, 404)


def _region_of_station(station_id: int) -> int:
    regions = sorted(catalog.DEFAULT_REGIONS)
    return regions[station_id % len(regions)]


def _placeholder_position(ident: int) -> dict[str, float]:
    """Coordinates of the right shape, not EVE's: the simulator knows no positions."""
    return {"x": float(ident % 7919) * 1e9, "y": float(ident % 104) * 1e8, "z": -1e10}


#: What every simulated station offers (values of the spec's ``services`` enum).
STATION_SERVICES: Final = ("docking", "market", "fitting", "repair-facilities", "courier-missions")


def station(station_id: int) -> dict[str, Any] | None:
    if station_id in HUB_STATIONS:
        name, system_id = HUB_STATIONS[station_id]
    elif catalog.STATION_RANGE[0] <= station_id < catalog.STATION_RANGE[1]:
        system_id = SIM_SYSTEM_BASE + _region_of_station(station_id) % 1000
        name = f"Simulated Station {station_id}"
    else:
        return None
    return {
        "max_dockable_ship_volume": 50_000_000,
        "name": name,
        "office_rental_cost": 10_000,
        "position": _placeholder_position(station_id),
        "reprocessing_efficiency": 0.5,
        "reprocessing_stations_take": 0.05,
        "services": list(STATION_SERVICES),
        "station_id": station_id,
        "system_id": system_id,
        "type_id": 1531,
    }


def system(system_id: int) -> dict[str, Any] | None:
    if system_id in HUB_SYSTEMS:
        name, security, region_id = HUB_SYSTEMS[system_id]
        stations = [s for s, (_, in_system) in HUB_STATIONS.items() if in_system == system_id]
    elif SIM_SYSTEM_BASE <= system_id < SIM_SYSTEM_BASE + 1000:
        region_id = 10_000_000 + system_id - SIM_SYSTEM_BASE
        name, security, stations = f"Simulated System {system_id}", 0.5, []
    else:
        return None
    if region_id not in REGION_NAMES:
        return None
    body: dict[str, Any] = {
        "constellation_id": SIM_CONSTELLATION_BASE + region_id % 1000,
        "name": name,
        "position": _placeholder_position(system_id),
        "security_status": security,
        "system_id": system_id,
    }
    if stations:
        body["stations"] = stations
    return body


def constellation(constellation_id: int) -> dict[str, Any] | None:
    region_id = 10_000_000 + constellation_id - SIM_CONSTELLATION_BASE
    if region_id not in REGION_NAMES:
        return None
    return {
        "constellation_id": constellation_id,
        "name": f"Simulated Constellation of {REGION_NAMES[region_id]}",
        "position": _placeholder_position(constellation_id),
        "region_id": region_id,
        "systems": sorted(
            {
                *(s for s, (_, _, r) in HUB_SYSTEMS.items() if r == region_id),
                SIM_SYSTEM_BASE + region_id % 1000,
            }
        ),
    }


def region(region_id: int) -> dict[str, Any] | None:
    if region_id not in REGION_NAMES:
        return None
    return {
        "constellations": [SIM_CONSTELLATION_BASE + region_id % 1000],
        "description": "",
        "name": REGION_NAMES[region_id],
        "region_id": region_id,
    }


def _type_body(type_id: int) -> dict[str, Any] | None:
    t = _indexes()[0].get(type_id)
    if t is None:
        return None
    body = {"type_id": t.type_id, "name": t.name, "group_id": t.group_id,
            "published": t.published, "description": ""}  # fmt: skip
    if t.market_group_id is not None:
        body["market_group_id"] = t.market_group_id
    if t.volume is not None:
        body["volume"] = t.volume
    return body


def _group_body(group_id: int) -> dict[str, Any] | None:
    g = _indexes()[1].get(group_id)
    if g is None:
        return None
    return {"group_id": g.group_id, "name": g.name, "category_id": g.category_id,
            "published": g.published, "types": []}  # fmt: skip


def _category_body(category_id: int) -> dict[str, Any] | None:
    c = _indexes()[2].get(category_id)
    if c is None:
        return None
    return {"category_id": c.category_id, "name": c.name, "published": c.published,
            "groups": []}  # fmt: skip


#: ``POST /universe/names`` categories, each with the lookup that knows its ids.
_NAMED: Final[tuple[tuple[str, Callable[[int], dict[str, Any] | None]], ...]] = (
    ("region", region),
    ("constellation", constellation),
    ("solar_system", system),
    ("station", station),
    ("inventory_type", _type_body),
)


def entity_name(entity_id: int) -> dict[str, Any] | None:
    for category, lookup in _NAMED:
        found = lookup(entity_id)
        if found is not None:
            return {"category": category, "id": entity_id, "name": found["name"]}
    if any(low <= entity_id < high for low, high in catalog.CHARACTER_RANGES):
        return {"category": "character", "id": entity_id, "name": f"Pilot {entity_id}"}
    if catalog.PLAYER_CORP_RANGE[0] <= entity_id < catalog.PLAYER_CORP_RANGE[1]:
        return {"category": "corporation", "id": entity_id, "name": f"Corporation {entity_id}"}
    if catalog.NPC_CORP_RANGE[0] <= entity_id < catalog.NPC_CORP_RANGE[1]:
        return {"category": "corporation", "id": entity_id, "name": f"NPC Corporation {entity_id}"}
    return None


def _parse_id(text: str) -> int | None:
    return int(text) if _ID.fullmatch(text) else None


def universe_router() -> APIRouter:
    router = APIRouter()

    def by_id(
        kind: str, lookup: Callable[[int], dict[str, Any] | None]
    ) -> Callable[[str], Response]:
        def endpoint(ident: str) -> Response:
            parsed = _parse_id(ident)
            if parsed is None:
                return _json({"error": f"invalid {kind} id"}, 400)
            found = lookup(parsed)
            return _not_found(kind) if found is None else _json(found)

        return endpoint

    for route, kind, lookup in (
        ("/universe/types/{ident}", "type", _type_body),
        ("/universe/groups/{ident}", "group", _group_body),
        ("/universe/categories/{ident}", "category", _category_body),
        ("/universe/stations/{ident}", "station", station),
        ("/universe/systems/{ident}", "system", system),
        ("/universe/constellations/{ident}", "constellation", constellation),
        ("/universe/regions/{ident}", "region", region),
    ):
        for prefix in ("", "/v1", "/latest"):
            router.add_api_route(
                prefix + route, by_id(kind, lookup), methods=["GET"], include_in_schema=False
            )

    def structure(request: Request, ident: str) -> Response:
        del ident  # nobody is on a simulated structure's access list
        if "authorization" not in request.headers:
            return _json({"error": STRUCTURE_UNAUTHORIZED}, 401)
        return _json({"error": STRUCTURE_FORBIDDEN}, 403)

    for prefix in ("", "/v2", "/latest"):
        router.add_api_route(
            prefix + "/universe/structures/{ident}",
            structure,
            methods=["GET"],
            include_in_schema=False,
        )

    async def names(request: Request) -> Response:
        try:
            ids = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return _json({"error": "invalid body"}, 400)
        if not isinstance(ids, list) or not ids or len(ids) > 1000:
            return _json({"error": "between 1 and 1000 ids"}, 400)
        if not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
            return _json({"error": "ids must be integers"}, 400)
        found = [entity_name(i) for i in dict.fromkeys(ids)]
        if any(f is None for f in found):
            return _json({"error": NAMES_UNKNOWN}, 404)
        return _json(found)

    for prefix in ("", "/v3", "/latest"):
        router.add_api_route(
            prefix + "/universe/names", names, methods=["POST"], include_in_schema=False
        )
    return router
