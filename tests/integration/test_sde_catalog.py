"""The SDE type catalog: read from the pinned wheel, loaded by build number, updated in place."""

from __future__ import annotations

import dataclasses

import asyncpg
import pytest

from common.db import asyncpg_dsn
from common.sde.loader import PACKAGE, load_catalog, pinned_build_number
from common.sde.reader import (
    SdeCatalog,
    SdeFormatError,
    pinned_sde_path,
    read_catalog,
    read_catalog_file,
)
from tests.support import factories as f


@pytest.fixture(scope="module")
def catalog() -> SdeCatalog:
    return read_catalog_file(pinned_sde_path())


@pytest.fixture(autouse=True)
async def _no_catalog(database_url: str) -> None:
    await _rows(database_url, f"TRUNCATE {f.REFERENCE_TABLES}")


async def _rows(database_url: str, query: str, *args: object) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        return await connection.fetch(query, *args)
    finally:
        await connection.close()


def test_the_reader_reads_the_pinned_build(catalog: SdeCatalog) -> None:
    assert catalog.build_number == pinned_build_number()
    types = {t.type_id: t for t in catalog.types}
    rifter = types[587]
    assert (rifter.name, rifter.group_id, rifter.category_id, rifter.published) == (
        "Rifter",
        25,
        6,
        True,
    )
    assert types[691].name == "Rifter Blueprint"
    assert types[691].category_id == 9
    assert types[34].volume == 0.01  # float32 noise removed
    categories = {c.category_id: c.name for c in catalog.categories}
    assert categories[6] == "Ship"
    assert categories[9] == "Blueprint"
    groups = {g.group_id: g for g in catalog.groups}
    assert groups[25].name == "Frigate"
    assert groups[25].category_id == 6
    market = {m.market_group_id: m for m in catalog.market_groups}
    assert market[types[587].market_group_id or 0].parent_id is not None
    assert {m.name for m in catalog.meta_groups} >= {"Tech I", "Tech II"}


def test_the_reader_refuses_another_file() -> None:
    with pytest.raises(SdeFormatError):
        read_catalog(b"\x10\x00\x00\x00XXXXsomething else")


async def test_load_then_the_same_build_again_changes_nothing(
    database_url: str, catalog: SdeCatalog
) -> None:
    first = await load_catalog(database_url, catalog=catalog)
    assert first.loaded
    assert first.previous_build is None
    assert first.types_changed == len(catalog.types)
    counts = await _rows(
        database_url,
        "SELECT (SELECT count(*) FROM item_types) AS types,"
        " (SELECT count(*) FROM item_groups) AS groups,"
        " (SELECT count(*) FROM item_categories) AS categories,"
        " (SELECT count(*) FROM market_groups) AS market_groups,"
        " (SELECT count(*) FROM meta_groups) AS meta_groups",
    )
    assert dict(counts[0]) == {
        "types": len(catalog.types),
        "groups": len(catalog.groups),
        "categories": len(catalog.categories),
        "market_groups": len(catalog.market_groups),
        "meta_groups": len(catalog.meta_groups),
    }
    before = await _rows(database_url, "SELECT xmin::text AS x, type_id FROM item_types")
    again = await load_catalog(database_url)  # the installed wheel: the same build
    assert not again.loaded
    assert again.previous_build == catalog.build_number
    after = await _rows(database_url, "SELECT xmin::text AS x, type_id FROM item_types")
    assert sorted(map(tuple, before)) == sorted(map(tuple, after))  # no row rewritten
    build = await _rows(
        database_url, "SELECT build_number FROM sde_builds WHERE package = $1", PACKAGE
    )
    assert build[0]["build_number"] == catalog.build_number


async def test_a_newer_build_updates_in_place(database_url: str, catalog: SdeCatalog) -> None:
    await load_catalog(database_url, catalog=catalog)
    renamed = [
        dataclasses.replace(t, name="Rifter Mk II") if t.type_id == 587 else t
        for t in catalog.types
        if t.type_id != 691
    ]
    newer = dataclasses.replace(catalog, build_number=catalog.build_number + 1, types=renamed)
    result = await load_catalog(database_url, catalog=newer, package_version_text="test")
    assert result.loaded
    assert result.previous_build == catalog.build_number
    assert result.types_changed == 2  # one renamed, one removed: nothing else rewritten
    rows = await _rows(
        database_url,
        "SELECT type_id, name FROM item_types WHERE type_id = ANY($1::bigint[])",
        [587, 691],
    )
    assert {r["type_id"]: r["name"] for r in rows} == {587: "Rifter Mk II"}
    older = await load_catalog(database_url, catalog=catalog)
    assert not older.loaded  # an older build never rolls the catalog back


async def test_loading_the_catalog_derives_the_contracts_already_held(
    database_url: str, catalog: SdeCatalog
) -> None:
    from services.persister.repository import apply_contracts  # noqa: PLC0415

    contract = f.contract(1, items=1)
    ship = contract.items[0].model_copy(update={"type_id": 17843})  # Vexor Navy Issue
    batch = f.batch([contract.model_copy(update={"items": [ship]})])
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        async with connection.transaction():
            await apply_contracts(connection, [batch])
        before = (await connection.fetch("SELECT is_ship, primary_label FROM contracts"))[0]
        assert dict(before) == {"is_ship": False, "primary_label": "Unknown type 17843"}
        result = await load_catalog(database_url, catalog=catalog)
        assert result.contracts_updated == 1
        after = (await connection.fetch("SELECT is_ship, primary_label FROM contracts"))[0]
        assert dict(after) == {"is_ship": True, "primary_label": "Vexor Navy Issue"}
    finally:
        await connection.close()
