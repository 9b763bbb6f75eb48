"""Core statements compiled once per shape and run straight through asyncpg.

When every value of a statement is a named bound parameter, its SQL text only depends on its
*shape* (which parameters are present and whatever is written into the text). A
``StatementCache`` keeps the compiled text by a key that names the shape: a request of a known
shape builds no SQLAlchemy expression and compiles nothing, it only computes its parameters.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Final

import asyncpg
from sqlalchemy.dialects.postgresql import asyncpg as postgresql_asyncpg
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement

Params = dict[str, Any]
"""Bound values of one statement by parameter name."""

_DIALECT: Final = postgresql_asyncpg.dialect()  # type: ignore[no-untyped-call]


@dataclass(frozen=True, slots=True)
class CompiledStatement:
    """A statement as asyncpg runs it: SQL with ``$n`` placeholders and their names in order."""

    sql: str
    names: tuple[str, ...]

    def arguments(self, params: Params) -> list[Any]:
        return [params[name] for name in self.names]


def compile_statement(statement: ClauseElement) -> CompiledStatement:
    compiled = statement.compile(dialect=_DIALECT, compile_kwargs={"render_postcompile": True})
    assert isinstance(compiled, SQLCompiler)
    return CompiledStatement(str(compiled), tuple(compiled.positiontup or ()))


class StatementCache:
    """Compiled statements by shape (everything that changes the SQL text), least recently
    used ones dropped first."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: OrderedDict[Hashable, CompiledStatement] = OrderedDict()

    def get(self, key: Hashable, build: Callable[[], ClauseElement]) -> CompiledStatement:
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
            return found
        compiled = compile_statement(build())
        self._entries[key] = compiled
        if len(self._entries) > self._size:
            self._entries.popitem(last=False)
        return compiled

    def __len__(self) -> int:
        return len(self._entries)


async def read_rows(
    connection: asyncpg.Connection, statement: CompiledStatement, params: Params
) -> list[asyncpg.Record]:
    """The rows ``statement`` returns with ``params`` bound."""
    return await connection.fetch(statement.sql, *statement.arguments(params))
