"""How long one migration takes on a large database: a copy of ``bench_api``'s dataset is
taken down to the revision before and upgraded again, timed.

    uv run python -m benchmarks.bench_migration --revision 0010 --data-dir /tmp/bench-api \\
        --contracts 1000000

The dataset must exist (``bench_api --contracts N --data-dir DIR`` generates it); the copy is
dropped afterwards. The upgrade runs as ``hangar-bay migrate`` runs it: one transaction.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from pathlib import Path

import asyncpg
from alembic.script import ScriptDirectory

from benchmarks.api_dataset import database_name
from benchmarks.support import postgres
from common.db import asyncpg_dsn, with_database
from common.migration import alembic_config, downgrade, upgrade

COPY = "hangar_bench_migration"


async def _admin(server_url: str, statement: str) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(with_database(server_url, "postgres")))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def _contracts(database_url: str) -> int:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        counted: int = await connection.fetchval("SELECT count(*) FROM contracts")
        return counted
    finally:
        await connection.close()


def main(options: argparse.Namespace) -> None:
    script = ScriptDirectory.from_config(alembic_config("")).get_revision(options.revision)
    if script is None or not isinstance(script.down_revision, str):
        raise SystemExit(f"no revision {options.revision} with one revision before it")
    with postgres(None, options.data_dir) as server_url:
        source = database_name(options.contracts)
        asyncio.run(_admin(server_url, f'DROP DATABASE IF EXISTS "{COPY}"'))
        asyncio.run(_admin(server_url, f'CREATE DATABASE "{COPY}" TEMPLATE "{source}"'))
        url = with_database(server_url, COPY)
        try:
            downgrade(url, script.down_revision)
            started = time.perf_counter()
            upgrade(url, script.revision)
            seconds = time.perf_counter() - started
            print(
                f"upgrade {script.down_revision} -> {script.revision} of {source} "
                f"({asyncio.run(_contracts(url)):,} contracts): {seconds:.1f} s "
                f"({os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f})"
            )
        finally:
            asyncio.run(_admin(server_url, f'DROP DATABASE IF EXISTS "{COPY}"'))


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--revision", required=True, help="The migration to time, e.g. 0010.")
    parser.add_argument("--contracts", type=int, default=1_000_000)
    parser.add_argument("--data-dir", type=Path, required=True, help="bench_api's --data-dir.")
    return parser.parse_args()


if __name__ == "__main__":
    main(parse_arguments())
