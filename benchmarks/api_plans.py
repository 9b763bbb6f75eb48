"""The statements of one ``bench_api`` filter family, one at a time on one connection: their
times (p50 / p90 / p99, the sum by kind, sort and region) and the plans of the slowest
(``EXPLAIN ANALYZE``), to tell slow statements from queueing under load.

    uv run python -m benchmarks.api_plans "category_id" \\
        --database-url 'postgresql://postgres@/hangar_bench_api_v2_1000000?host=/tmp/bench-api/postgres'

The requests are the ones ``bench_api`` draws for the family (same seeds, ``--draws`` of them
spread over the clients); the database must hold ``bench_api``'s data and be served already
(``bench_api --data-dir`` keeps it; start PostgreSQL on that directory).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import time
from collections import defaultdict
from typing import Any
from urllib.parse import parse_qs, urlparse

import asyncpg

from benchmarks.api_draws import FAMILIES, build_request, sample_content, sample_positions
from benchmarks.bench_api import COUNT_EXACT_THRESHOLD
from benchmarks.support import percentile
from common.db import asyncpg_dsn
from services.api import queries
from services.api.cursor import CursorCodec
from services.api.kit.explain import plan_nodes
from services.api.kit.statements import CompiledStatement
from services.api.queries.listing import reads_filter_first


def _outline(plan: dict[str, Any]) -> str:
    lines = []
    for node in plan_nodes(plan):
        kind = node["Node Type"]
        if node.get("Relation Name") or "Join" in kind or kind in ("Nested Loop", "Sort"):
            where = node.get("Index Name") or node.get("Relation Name", "")
            lines.append(
                f"{kind} [{where}] rows {node.get('Actual Rows')} loops "
                f"{node.get('Actual Loops')} ms {node.get('Actual Total Time')}"
            )
    return "\n      ".join(lines)


async def main(arguments: argparse.Namespace) -> None:
    connection = await asyncpg.connect(
        asyncpg_dsn(arguments.database_url), server_settings={"jit": "off"}
    )
    pool = await asyncpg.create_pool(asyncpg_dsn(arguments.database_url), min_size=1, max_size=1)
    try:
        codec = CursorCodec(b"x" * 64)
        positions = await sample_positions(pool)
        content = await sample_content(pool)
        number = list(FAMILIES).index(arguments.family)
        timed: list[tuple[float, str, str, CompiledStatement, list[Any]]] = []
        for client in range(arguments.clients):
            rng = random.Random(arguments.seed + 1000 * (number + 1) + client)
            for _ in range(max(1, arguments.draws // arguments.clients)):
                request = build_request(rng, codec, positions, content, arguments.family)
                query = request.query
                assert query is not None
                filter_first = await reads_filter_first(connection, query)
                listed = queries.list_query(
                    query, request.after, query.limit + 1, filter_first=filter_first
                )
                statements = [("list", *listed)]
                if query.count:
                    statements.append(("count", *queries.count_query(query, COUNT_EXACT_THRESHOLD)))
                for kind, statement, params in statements:
                    values = statement.arguments(params)
                    started = time.perf_counter()
                    await connection.fetch(statement.sql, *values)
                    elapsed = time.perf_counter() - started
                    timed.append((elapsed, kind, request.target, statement, values))
        times = [entry[0] for entry in timed]
        print(
            f"{arguments.family}: {len(times)} statements, p50 "
            f"{statistics.median(times) * 1000:.1f} ms, p90 {percentile(times, 0.9) * 1000:.1f} "
            f"ms, p99 {percentile(times, 0.99) * 1000:.1f} ms, max {max(times) * 1000:.1f} ms, "
            f"sum {sum(times):.2f} s"
        )
        by_shape: dict[tuple[str, ...], list[float]] = defaultdict(list)
        for elapsed, kind, target, _, _ in timed:
            asked = parse_qs(urlparse(target).query)
            shape: tuple[str, ...] = (
                kind,
                asked.get("sort", ["date_issued"])[0],
                "region" if "region_id" in asked else "all regions",
                asked.get("status", ["outstanding"])[0],
            )
            by_shape[shape].append(elapsed)
        for shape, spent in sorted(by_shape.items(), key=lambda item: -sum(item[1]))[:12]:
            print(f"  {' / '.join(shape)}: {len(spent)} statements, {sum(spent):.2f} s")
        timed.sort(key=lambda entry: -entry[0])
        for elapsed, kind, target, statement, values in timed[: arguments.show]:
            document = await connection.fetchval(
                "EXPLAIN (ANALYZE, FORMAT JSON) " + statement.sql, *values
            )
            plan = json.loads(document)[0]
            print(
                f"\n{elapsed * 1000:.1f} ms {kind} {target}\n   again under EXPLAIN ANALYZE: "
                f"{plan['Execution Time']:.1f} ms\n      {_outline(plan['Plan'])}"
            )
    finally:
        await pool.close()
        await connection.close()


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("family", choices=list(FAMILIES))
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--draws", type=int, default=200, help="Requests, spread over clients.")
    parser.add_argument("--clients", type=int, default=50, help="As bench_api's --clients.")
    parser.add_argument("--seed", type=int, default=1, help="As bench_api's --seed.")
    parser.add_argument("--show", type=int, default=5, help="Plans of the slowest statements.")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_arguments()))
