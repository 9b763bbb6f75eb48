"""Reference data through ESI: names of the places and parties of new contracts, and the
types newer than the pinned SDE, published as ``ReferenceData`` messages.

Each id is resolved once and remembered in Redis for a week (then resolved again, so names
are refreshed and the stream always holds a copy younger than its ``max_age``). A failed
lookup is only logged: the contracts are published already and the id is tried again with
the next contracts that use it. Player structures (ids from 10^12) need an authenticated call:
they are left to the read side, which labels them by id.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import httpx
import orjson
import redis.asyncio as aioredis
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from common.db import FIRST_STRUCTURE_ID
from common.messages import (
    ContractWithItems,
    ReferenceCategory,
    ReferenceConstellation,
    ReferenceData,
    ReferenceGroup,
    ReferenceName,
    ReferenceStation,
    ReferenceSystem,
    ReferenceType,
)
from services.fetcher.esi_client import EsiClient, EsiError
from services.fetcher.governor import Governor, Priority

log = logging.getLogger(__name__)

REMEMBER_SECONDS: Final = 7 * 86_400
NAMES_CHUNK: Final = 1000
STATION_IDS: Final = range(60_000_000, 64_000_000)


class _Esi(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class EsiType(_Esi):
    type_id: int
    name: str
    group_id: int
    published: bool
    market_group_id: int | None = None
    volume: float | None = None


class EsiGroup(_Esi):
    group_id: int
    name: str
    category_id: int
    published: bool


class EsiCategory(_Esi):
    category_id: int
    name: str
    published: bool


class EsiStation(_Esi):
    station_id: int
    name: str
    system_id: int


class EsiSystem(_Esi):
    system_id: int
    name: str
    constellation_id: int
    security_status: float


class EsiConstellation(_Esi):
    constellation_id: int
    name: str
    region_id: int


class EsiName(_Esi):
    id: int
    name: str
    category: str


_names = TypeAdapter(list[EsiName])


@dataclass(frozen=True)
class SdeIds:
    """What the pinned SDE already knows: those types need no ESI call."""

    types: frozenset[int]
    groups: frozenset[int]
    categories: frozenset[int]

    @classmethod
    def pinned(cls) -> SdeIds:
        from common.sde.reader import pinned_sde_path, read_catalog_file  # noqa: PLC0415

        catalog = read_catalog_file(pinned_sde_path())
        return cls(
            frozenset(t.type_id for t in catalog.types),
            frozenset(g.group_id for g in catalog.groups),
            frozenset(c.category_id for c in catalog.categories),
        )


@dataclass
class _Found:
    categories: dict[int, ReferenceCategory] = field(default_factory=dict)
    groups: dict[int, ReferenceGroup] = field(default_factory=dict)
    types: list[ReferenceType] = field(default_factory=list)
    constellations: dict[int, ReferenceConstellation] = field(default_factory=dict)
    systems: dict[int, ReferenceSystem] = field(default_factory=dict)
    stations: list[ReferenceStation] = field(default_factory=list)
    names: list[ReferenceName] = field(default_factory=list)


def ids_to_resolve(
    region_id: int, contracts: Iterable[ContractWithItems], sde: SdeIds
) -> tuple[set[int], set[int], set[int]]:
    """(type ids the SDE lacks, station ids, other entity ids) of some contracts."""
    types: set[int] = set()
    stations: set[int] = set()
    entities: set[int] = {region_id}
    for contract in contracts:
        types.update(i.type_id for i in contract.items if i.type_id not in sde.types)
        for location in (contract.start_location_id, contract.end_location_id):
            if location is None or location >= FIRST_STRUCTURE_ID:
                continue
            (stations if location in STATION_IDS else entities).add(location)
        entities.update((contract.issuer_id, contract.issuer_corporation_id))
    return types, stations, entities


class ReferenceResolver:
    def __init__(
        self,
        esi: EsiClient,
        http: httpx.AsyncClient,
        governor: Governor,
        redis: aioredis.Redis,
        prefix: str,
        publish: Callable[[ReferenceData], Awaitable[None]],
        sde: SdeIds,
    ) -> None:
        self._esi = esi
        self._http = http
        self._governor = governor
        self._redis = redis
        self._prefix = prefix
        self._publish = publish
        self._sde = sde

    def _key(self, kind: str, identifier: int) -> str:
        return f"{self._prefix}:reference:{kind}:{identifier}"

    async def _unknown(self, kind: str, ids: Iterable[int]) -> list[int]:
        ordered = sorted(ids)
        if not ordered:
            return []
        known = await self._redis.mget([self._key(kind, i) for i in ordered])
        return [i for i, hit in zip(ordered, known, strict=True) if hit is None]

    async def _remember(self, kind: str, ids: Iterable[int]) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            for identifier in ids:
                pipe.set(self._key(kind, identifier), b"1", ex=REMEMBER_SECONDS)
            await pipe.execute()

    async def resolve(self, region_id: int, contracts: Sequence[ContractWithItems]) -> None:
        """Resolve and publish what these contracts need and was not resolved this week."""
        types, stations, entities = ids_to_resolve(region_id, contracts, self._sde)
        types_todo = await self._unknown("type", types)
        stations_todo = await self._unknown("station", stations)
        entities_todo = await self._unknown("name", entities)
        if not (types_todo or stations_todo or entities_todo):
            return
        found = _Found()
        for type_id in types_todo:
            await self._type(type_id, found)
        for station_id in stations_todo:
            await self._station(station_id, found)
        await self._names(entities_todo, found)
        message = ReferenceData(
            resolved_at=datetime.now(UTC),
            categories=list(found.categories.values()),
            groups=list(found.groups.values()),
            types=found.types,
            constellations=list(found.constellations.values()),
            systems=list(found.systems.values()),
            stations=found.stations,
            names=found.names,
        )
        if any((message.types, message.stations, message.names, message.systems)):
            await self._publish(message)
        await self._remember("type", (t.type_id for t in found.types))
        await self._remember("station", (s.station_id for s in found.stations))
        await self._remember("name", (n.id for n in found.names))

    async def _get(self, route: str, path: str, model: type[Any]) -> Any | None:
        try:
            response, parsed = await self._esi.get_json(
                route, path, model.model_validate_json, priority=Priority.ENRICHMENT
            )
        except EsiError as error:
            log.warning("reference lookup failed", extra={"path": path, "error": str(error)})
            return None
        if parsed is None:
            log.info("reference id not found", extra={"path": path, "status": response.status})
        return parsed

    async def _type(self, type_id: int, found: _Found) -> None:
        esi_type: EsiType | None = await self._get(
            "universe_type", f"/universe/types/{type_id}", EsiType
        )
        if esi_type is None:
            return  # unknown to ESI too: the read side shows it as an unknown type
        group = found.groups.get(esi_type.group_id)
        category_id: int | None = group.category_id if group else None
        if group is None:
            esi_group: EsiGroup | None = await self._get(
                "universe_group", f"/universe/groups/{esi_type.group_id}", EsiGroup
            )
            if esi_group is None:
                return
            category_id = esi_group.category_id
            if esi_group.group_id not in self._sde.groups:
                found.groups[esi_group.group_id] = ReferenceGroup(**esi_group.model_dump())
            if category_id not in self._sde.categories and category_id not in found.categories:
                esi_category: EsiCategory | None = await self._get(
                    "universe_category", f"/universe/categories/{category_id}", EsiCategory
                )
                if esi_category is None:
                    return
                found.categories[category_id] = ReferenceCategory(**esi_category.model_dump())
        assert category_id is not None
        found.types.append(
            ReferenceType(
                **esi_type.model_dump(exclude={"market_group_id"}),
                category_id=category_id,
                market_group_id=esi_type.market_group_id or None,
            )
        )

    async def _station(self, station_id: int, found: _Found) -> None:
        station: EsiStation | None = await self._get(
            "universe_station", f"/universe/stations/{station_id}", EsiStation
        )
        if station is None:
            return
        found.stations.append(ReferenceStation(**station.model_dump()))
        if station.system_id in found.systems:
            return
        system: EsiSystem | None = await self._get(
            "universe_system", f"/universe/systems/{station.system_id}", EsiSystem
        )
        if system is None:
            return
        found.systems[system.system_id] = ReferenceSystem(
            **system.model_dump(exclude={"security_status"}),
            security_status=max(-1.0, min(1.0, system.security_status)),
        )
        if system.constellation_id in found.constellations:
            return
        constellation: EsiConstellation | None = await self._get(
            "universe_constellation",
            f"/universe/constellations/{system.constellation_id}",
            EsiConstellation,
        )
        if constellation is not None:
            found.constellations[constellation.constellation_id] = ReferenceConstellation(
                **constellation.model_dump()
            )

    async def _names(self, ids: Sequence[int], found: _Found) -> None:
        for start in range(0, len(ids), NAMES_CHUNK):
            await self._names_chunk(list(ids[start : start + NAMES_CHUNK]), found)

    async def _names_chunk(self, ids: list[int], found: _Found) -> None:
        """ESI refuses the whole request (404) when one id is not resolvable: halve it until
        the bad ids are alone."""
        if not ids:
            return
        async with self._governor.slot(Priority.ENRICHMENT):
            try:
                response = await self._http.post(
                    "/universe/names", content=orjson.dumps(ids),
                    headers={"Content-Type": "application/json"},
                )  # fmt: skip
            except httpx.HTTPError as error:
                log.warning("names lookup failed", extra={"error": str(error), "ids": len(ids)})
                return
            self._governor.observe(response.status_code, response.headers)
        if response.status_code == 200:
            try:
                names = _names.validate_json(response.content)
            except ValidationError:
                log.warning("malformed names answer", extra={"ids": len(ids)})
                return
            found.names.extend(
                ReferenceName(id=n.id, name=n.name[:500] or str(n.id), category=n.category[:50])
                for n in names
                if n.id > 0
            )
        elif response.status_code == 404 and len(ids) > 1:
            middle = len(ids) // 2
            await self._names_chunk(ids[:middle], found)
            await self._names_chunk(ids[middle:], found)
        else:
            log.info("names not resolved", extra={"status": response.status_code, "ids": ids[:5]})


@functools.cache
def pinned_sde_ids() -> SdeIds:
    """Read once per process, on first use."""
    return SdeIds.pinned()
