"""The word-prefix rule of ``q`` in PostgreSQL's regular expressions: every character of the
query matches itself, and a text the query is found in offers the query's word key."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from common.db import asyncpg_dsn
from common.text_search import first_word_key, word_keys_sql, word_prefix_pattern

TEXT = "vexor navy issue wts fitted drake, cheap!! 100% [t2] a.b (x|y) c:\\d ω-beam"

CASES: list[tuple[str, bool]] = [
    ("vexor navy", True),
    ("Vexor   NAVY  issue", True),
    ("navy", True),
    ("exor", False),  # inside a word
    ("avy issue", False),
    ("drake, cheap!!", True),
    ("cheap!! 100%", True),
    ("100%", True),
    ("10.", False),  # "." is no wildcard
    ("[t2]", True),
    ("t2]", True),
    ("a.b", True),
    ("a.c", False),
    ("(x|y)", True),
    ("x|y", True),
    ("x|z", False),
    ("c:\\d", True),
    ("c:\\", True),
    ("ω-beam", True),
    ("beam", True),  # after a character that is no ASCII word character
    ("-beam", True),
    ("eam", False),
    (".*", False),
    ("^vexor", False),
    ("issue$", False),
    ("y{2}", False),
    ("vexor navy issue wts fitted drake, cheap!! 100% [t2] a.b (x|y) c:\\d ω-beam!", False),
]


@pytest.fixture
async def connection(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    yield connection
    await connection.close()


@pytest.mark.parametrize(("query", "found"), CASES, ids=[query for query, _ in CASES])
async def test_a_query_is_found_at_word_starts_only_and_literally(
    connection: asyncpg.Connection, query: str, found: bool
) -> None:
    assert await connection.fetchval("SELECT $1 ~ $2", TEXT, word_prefix_pattern(query)) is found
    if found and (key := first_word_key(query)) is not None:
        # the notifier's word keys of a contract (services/notifier/matching.py)
        keys = await connection.fetchval(f"SELECT {word_keys_sql('$1::text')}", TEXT)
        assert key in keys
