"""The type autocomplete's statement over the whole SDE catalog (the template database holds it):
the same answer as its ranking written out over every type, read through indexes, and the
names holding the text read only when the names starting with it leave places free."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from common.db import SHIP_CATEGORY_ID, asyncpg_dsn
from services.api.kit.explain import plan_nodes, top_plan
from services.api.name_filters import WORD_START, regex_literal, search_pattern
from services.api.names import TYPE_SEARCH, search_types, type_search_arguments

#: The ranking as the API documents it, over every type, with no index in mind: the exact name,
#: then names starting with the text, then names where a word starts with it, then names
#: holding it; within a rank published types, then shorter names.
RANKING_OVER_EVERY_TYPE = f"""
SELECT t.type_id, t.name, t.published, t.category_id = {SHIP_CATEGORY_ID} AS is_ship,
       t.group_id, g.name AS group_name, t.category_id, k.name AS category_name
FROM item_types AS t
LEFT JOIN item_groups AS g ON g.group_id = t.group_id
LEFT JOIN item_categories AS k ON k.category_id = t.category_id
WHERE t.name ILIKE $1 ESCAPE '/'
ORDER BY CASE WHEN lower(t.name) = $2 THEN 0 WHEN lower(t.name) LIKE $3 ESCAPE '/' THEN 1
              WHEN lower(t.name) ~ $4 THEN 2 ELSE 3 END,
         t.published DESC, length(t.name), t.name, t.type_id
LIMIT $5
"""

#: Texts that end in each of the statement's paths: names starting with them fill the answer
#: ("ser", "ski", "sta"), leave places to names where a word starts with them ("sereni",
#: "navy issue"), after a space or after another character ("augmented": "'Augmented'"), or
#: to names holding them inside a word ("exor", "ifter"); an exact name ("rifter"); wildcards
#: and regular-expression syntax, which match themselves.
TEXTS = (
    "ser", "ski", "sta", "sereni", "navy issue", "vexor navy", "augmented", "aug", "exor",
    "ifter", "rifter", "ion", "100mm", "caldari navy", "large shield", "vexor%", "vexor_navy",
    "(vexor|rifter)", "[[:alpha:]]+navy", "navy$", "\\mvexor", "  Vexor   NAVY ",
)  # fmt: skip


@pytest.fixture
async def catalog(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await connection.execute("ANALYZE item_types")
        yield connection
    finally:
        await connection.close()


def _typed_texts(names: list[str], count: int) -> list[str]:
    """Parts of real names as a trader types them: a word's start, or a word and the next's
    start."""
    rng = random.Random(13)
    texts: list[str] = []
    while len(texts) < count:
        words = rng.choice(names).lower().split()
        if len(words) >= 2 and rng.random() < 0.5:
            texts.append(f"{words[0]} {words[1][: rng.randint(1, len(words[1]))]}")
        elif words and len(words[0]) >= 3:
            texts.append(words[0][: rng.randint(3, len(words[0]))])
    return texts


async def _ranked_over_every_type(
    connection: asyncpg.Connection, text: str, limit: int
) -> list[dict[str, Any]]:
    pattern = search_pattern(text)
    exact = " ".join(text.lower().split())
    rows = await connection.fetch(
        RANKING_OVER_EVERY_TYPE,
        pattern,
        exact,
        pattern[1:],
        WORD_START + regex_literal(exact),
        limit,
    )
    return [dict(row) for row in rows]


async def test_the_answer_is_the_ranking_over_every_type(catalog: asyncpg.Connection) -> None:
    names = [r["name"] for r in await catalog.fetch("SELECT name FROM item_types")]
    assert len(names) > 10_000  # the whole catalog, so that common texts match thousands
    texts = [*TEXTS, *_typed_texts(names, 300)]
    different = []
    for text in texts:
        for limit in (1, 10, 50):
            found = await search_types(catalog, text, limit)
            expected = await _ranked_over_every_type(catalog, text, limit)
            if found != expected:
                different.append((text, limit, [r["name"] for r in found][:5]))
    assert different == []
    # the texts reach every rank
    ranks_reached = set()
    for text in TEXTS:
        for row in await search_types(catalog, text, 50):
            name, exact = row["name"].lower(), " ".join(text.lower().split())
            ranks_reached.add(
                0 if name == exact else 1 if name.startswith(exact) else 2 if f" {exact}" in name
                else 3
            )  # fmt: skip
    assert ranks_reached == {0, 1, 2, 3}


async def test_the_search_reads_types_through_indexes(catalog: asyncpg.Connection) -> None:
    failures = []
    for text in TEXTS:
        plan = top_plan(
            await catalog.fetchval(
                f"EXPLAIN (FORMAT JSON) {TYPE_SEARCH}", *type_search_arguments(text, 10)
            )
        )
        scans = [
            node["Node Type"]
            for node in plan_nodes(plan["Plan"])
            if node.get("Relation Name") == "item_types"
        ]
        assert len(scans) == 2, (text, scans)
        if "Seq Scan" in scans:
            failures.append((text, scans))
    assert failures == []


def _item_type_scans(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [node for node in plan_nodes(plan["Plan"]) if node.get("Relation Name") == "item_types"]


async def test_names_holding_the_text_are_read_only_when_places_are_left(
    catalog: asyncpg.Connection,
) -> None:
    """'ser' starts hundreds of names and is held by thousands: only the first are read.
    'navy issue' starts no name: the names holding it are read."""
    loops = {}
    for text in ("ser", "navy issue"):
        plan = top_plan(
            await catalog.fetchval(
                f"EXPLAIN (ANALYZE, FORMAT JSON) {TYPE_SEARCH}", *type_search_arguments(text, 10)
            )
        )
        starting, holding = _item_type_scans(plan)
        loops[text] = (starting["Actual Loops"], holding["Actual Loops"])
    assert loops == {"ser": (1, 0), "navy issue": (1, 1)}
