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


def _path(catalog: SdeCatalog, market_group_id: int) -> list[int]:
    """The market group and every group above it, walked here from the catalog."""
    parents = {m.market_group_id: m.parent_id for m in catalog.market_groups}
    path = [market_group_id]
    while (parent := parents[path[-1]]) is not None:
        path.append(parent)
    return path


async def test_a_market_group_moved_in_the_tree_moves_its_contracts(
    database_url: str, catalog: SdeCatalog
) -> None:
    from services.persister.repository import apply_contracts  # noqa: PLC0415

    vexor_navy_issue = next(t for t in catalog.types if t.type_id == 17843)
    assert vexor_navy_issue.market_group_id is not None
    leaf = vexor_navy_issue.market_group_id
    await load_catalog(database_url, catalog=catalog)
    contract = f.contract(1, items=1)
    ship = contract.items[0].model_copy(update={"type_id": vexor_navy_issue.type_id})
    batch = f.batch([contract.model_copy(update={"items": [ship]})])
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    query = (
        "SELECT offered_category_ids, offered_group_ids, offered_market_group_ids FROM contracts"
    )
    try:
        async with connection.transaction():
            await apply_contracts(connection, [batch])
        before = (await connection.fetch(query))[0]
        assert dict(before) == {
            "offered_category_ids": [vexor_navy_issue.category_id],
            "offered_group_ids": [vexor_navy_issue.group_id],
            "offered_market_group_ids": sorted(_path(catalog, leaf)),
        }
        # The leaf's parent moves under another root group: the types are untouched.
        old_parent = _path(catalog, leaf)[1]
        new_parent = next(
            m.market_group_id
            for m in catalog.market_groups
            if m.parent_id is None and m.market_group_id not in _path(catalog, leaf)
        )
        moved = [
            dataclasses.replace(m, parent_id=new_parent) if m.market_group_id == old_parent else m
            for m in catalog.market_groups
        ]
        newer = dataclasses.replace(
            catalog, build_number=catalog.build_number + 1, market_groups=moved
        )
        result = await load_catalog(database_url, catalog=newer, package_version_text="test")
        assert result.contracts_updated == 1
        after = (await connection.fetch(query))[0]
        assert after["offered_market_group_ids"] == sorted([leaf, old_parent, new_parent])
        stored_path = await connection.fetchval(
            "SELECT path FROM market_groups WHERE market_group_id = $1", leaf
        )
        assert stored_path == [leaf, old_parent, new_parent]
    finally:
        await connection.close()
