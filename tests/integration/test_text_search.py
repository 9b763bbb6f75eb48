"""Word keys of the search by name: wherever the API's ``q`` (its regular expression, the one
a saved search stores) finds a query, the text offers the query's word key, so that the
notifier's match keys never hide a search from a contract it matches."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from common.db import asyncpg_dsn
from common.text_search import first_word_key, word_keys_sql
from services.api.name_filters import word_search_params

TEXT = "vexor navy issue wts fitted drake, cheap!! 100% [t2] a.b (x|y) c:\\d ω-beam foo_bar ab-cd"

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
    ("bar", True),  # "_" separates words
    ("ab-c", True),
    ("ab cd", False),
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
async def test_where_a_query_is_found_the_text_offers_its_word_key(
    connection: asyncpg.Connection, query: str, found: bool
) -> None:
    _, regex = word_search_params(query)
    assert await connection.fetchval("SELECT $1 ~ $2", TEXT, regex) is found
    if found and (key := first_word_key(query)) is not None:
        # the notifier's word keys of a contract (services/notifier/matching.py)
        keys = await connection.fetchval(f"SELECT {word_keys_sql('$1::text')}", TEXT)
        assert key in keys


@pytest.mark.parametrize(
    ("query", "key"),
    [("Vexor Navy", "vex"), ("ab-cd", "ab"), ("ab cd", "ab"), ("x", "x"), ("100%", "100"),
     ("-beam", None), ("ωbeam", None), ("abω", None), ("a_b", "a")],
)  # fmt: skip
def test_the_word_key_of_a_query(query: str, key: str | None) -> None:
    assert first_word_key(query) == key
