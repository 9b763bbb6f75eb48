"""The search by name (``q``): the query text, lower-cased with its whitespace collapsed, must
start at a word boundary of a contract's ``search_text`` (the start of the text, or after a
character that is not a word character): "vexor navy" finds "vexor navy issue", "navy" finds
it too, "exor" does not.

Word characters are ASCII letters, digits and ``_`` (``search_text`` is lower case), spelled
out rather than ``\\w``: PostgreSQL's ``\\w`` depends on the database's locale, Python's does
not, and the two sides below must agree.

One rule for every reader of ``search_text``: a PostgreSQL regular expression (``~``) in which
every character of the query matches itself, and the first characters of the query's first
word, which a contract's words must begin with (what lets the notifier meet only the searches
whose first word a contract holds, instead of every search).
"""

from __future__ import annotations

import re
from typing import Final

#: What is not a word character, in PostgreSQL's regular expressions (lower-case text).
SEPARATOR_CLASS: Final = "[^a-z0-9_]"
_WORD: Final = re.compile(r"[a-z0-9_]+")
#: ASCII characters a regular expression may give a meaning to: each is escaped with a
#: backslash (before a non-alphanumeric character it means the character itself). No
#: character outside ASCII has a meaning.
_SPECIAL: Final = re.compile(r"([\x21-\x2f\x3a-\x40\x5b-\x5e\x60\x7b-\x7e])")
#: How many first characters of a word key it (a query has at least 3 characters).
WORD_KEY_LENGTH: Final = 3


def normalized_query(text: str) -> str:
    """Lower-cased, whitespace collapsed: the form ``search_text`` is compared in."""
    return " ".join(text.lower().split())


def word_prefix_pattern(text: str) -> str:
    """A PostgreSQL regular expression finding ``text`` at a word boundary of a lower-case
    text; every character of ``text`` matches itself."""
    query = normalized_query(text)
    escaped = _SPECIAL.sub(r"\\\1", query)
    if _WORD.match(query):
        return f"(^|{SEPARATOR_CLASS}){escaped}"
    return escaped  # starts with a separator: it is a word boundary wherever it is


def first_word_key(text: str) -> str | None:
    """The first characters of the query's first word: a contract whose text the query is
    found in has a word starting with them (no key when the query starts with a separator)."""
    found = _WORD.match(normalized_query(text))
    return found.group()[:WORD_KEY_LENGTH] if found else None


def word_keys_sql(text: str) -> str:
    """SQL: the distinct word keys (first characters of each word) of the SQL text ``text``,
    as an array: a text ``q`` is found in holds ``first_word_key(q)``."""
    return (
        f"ARRAY(SELECT DISTINCT left(w, {WORD_KEY_LENGTH})"
        f" FROM regexp_split_to_table({text}, '{SEPARATOR_CLASS}+') AS w WHERE w <> '')"
    )
