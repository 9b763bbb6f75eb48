"""Word keys of the search by name (``q``): what lets the notifier meet only the saved searches
whose first word a contract holds, instead of every search.

``q`` finds its text where a word of a contract's ``search_text`` starts (the start of the
text, or after a character that is no letter or digit): the API's regular expression
(``services/api/name_filters.py``, stored with each saved search). A text the query is found
in holds a word (a run of letters and digits, as that expression's ``[[:alnum:]]`` sees them)
that begins with the first characters of the query's first word: that prefix is the query's
key, and the prefixes of a contract's words are its keys.

Only ASCII letters and digits make a query's key: PostgreSQL's ``[[:alnum:]]`` depends on the
database's locale beyond ASCII, Python's ``isalnum`` does not. A query whose first word does
not start with one, or whose short first word runs on into a character outside ASCII, has no
key (its search is filed under another filter, or ``any``).
"""

from __future__ import annotations

import re
from typing import Final

#: How many first characters of a word key it (a query has at least 3 characters).
WORD_KEY_LENGTH: Final = 3
_ASCII_ALNUM: Final = re.compile(r"[a-z0-9]+")
#: What separates words, in PostgreSQL's regular expressions (the API's word start).
_SEPARATORS_SQL: Final = "[^[:alnum:]]+"


def first_word_key(text: str) -> str | None:
    """The first characters of the query's first word, which a contract's word starts with
    wherever the query is found; ``None`` when they cannot be told apart from the locale."""
    words = text.lower().split()
    if not words:
        return None
    first = words[0]
    found = _ASCII_ALNUM.match(first)
    if found is None:
        return None
    run = found.group()
    if len(run) >= WORD_KEY_LENGTH:
        return run[:WORD_KEY_LENGTH]
    after = first[len(run) : len(run) + 1]
    # a short word ends there only if what follows is no letter or digit in any locale
    return run if after == "" or after.isascii() else None


def word_keys_sql(text: str) -> str:
    """SQL: the distinct word keys (first characters of each word) of the SQL text ``text``,
    as an array."""
    return (
        f"ARRAY(SELECT DISTINCT left(w, {WORD_KEY_LENGTH})"
        f" FROM regexp_split_to_table({text}, '{_SEPARATORS_SQL}') AS w WHERE w <> '')"
    )
