"""``EXPLAIN (FORMAT JSON)`` as a Core construct, its parameters still bound."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement


class Explain(Executable, ClauseElement):
    """``EXPLAIN (FORMAT JSON) <statement>`` with the statement's parameters still bound."""

    inherit_cache = False

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement


@compiles(Explain, "postgresql")
def _compile_explain(element: Explain, compiler: SQLCompiler, **kw: Any) -> str:
    return "EXPLAIN (FORMAT JSON) " + compiler.process(element.statement, **kw)


def top_plan(document: Any) -> dict[str, Any]:
    """The top object of EXPLAIN's JSON (as text or already decoded)."""
    plans = json.loads(document) if isinstance(document, str) else document
    plan: dict[str, Any] = plans[0]
    return plan


def plan_nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """A plan node of EXPLAIN's JSON and every node below it, depth first."""
    yield plan
    for child in plan.get("Plans", []):
        yield from plan_nodes(child)


async def explain(connection: AsyncConnection, statement: ClauseElement) -> dict[str, Any]:
    """The planner's plan of ``statement`` (the top object of EXPLAIN's JSON)."""
    return top_plan((await connection.execute(Explain(statement))).scalar_one())
