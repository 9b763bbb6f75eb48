"""Rebuild benchmark (replay): how fast ``hangar-bay replay`` rebuilds a Forge-sized database
from the stream, against raw COPY into the same schema measured in the same run; and how many
bytes the stream holds per live contract after many simulated cycles.

    uv run python -m benchmarks.bench_replay [--contracts 35000] [--cycles 48]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path

import asyncpg
import nats
import redis.asyncio as aioredis

from benchmarks.bench_persister import CONTRACT_COLUMNS, ITEM_COLUMNS, copy_rows, make_load
from benchmarks.support import (
    Databases,
    Samples,
    Stopwatch,
    benchmark_servers,
    checkpoint,
    cleanup_after,
    fetch_value,
    load_average,
    note,
    number,
    print_table,
    rate,
    unique_prefix,
)
from common.db import asyncpg_dsn
from common.settings import HangarSettings
from common.stream import ensure_streams
from common.subjects import Subjects
from services.fetcher.main import fetcher_resources, run_once
from services.fetcher.settings import FetcherSettings
from services.rebuild.replay import replay
from services.stack.servers import ServerUrls
from tests.support.sim import SIM_BASE_URL, Sim

REGION = 10000002


async def rebuild_phase(
    urls: ServerUrls, contracts: int, repeat: int
) -> tuple[Samples, Samples, Samples, Samples, int, int]:
    prefix = unique_prefix("replay")
    subjects = Subjects(prefix)
    load = make_load(contracts, seed=5, subjects=subjects)
    databases = Databases(urls.database_url, prefix)
    settings = HangarSettings(
        database_url=urls.database_url, nats_url=urls.nats_url, redis_url=urls.redis_url,
        name_prefix=prefix,
    )  # fmt: skip
    replay_total, replay_apply, copy = Samples(), Samples(), Samples()
    index_build = Samples()
    async with cleanup_after(urls, prefix, databases, keep=False):
        client = await nats.connect(urls.nats_url)
        try:
            js = client.jetstream()
            await ensure_streams(js, subjects)
            for message in load.messages:
                await js.publish(
                    message.subject, message.body, headers={"Nats-Msg-Id": message.message_id}
                )
        finally:
            await client.close()
        contract_rows, item_rows = copy_rows(load.batches())
        for round_ in range(repeat):
            target = await databases.fresh(f"replay{round_}")
            await checkpoint(target)
            report = await replay(settings, target, migrate=False)
            assert report.contracts == load.contracts, report
            assert await fetch_value(target, "SELECT count(*) FROM contract_items") == load.items
            replay_total.add(report.seconds)
            replay_apply.add(report.apply_seconds)
            index_build.add(report.index_seconds)
            ceiling = await databases.fresh(f"copy{round_}")
            await checkpoint(ceiling)
            connection = await asyncpg.connect(asyncpg_dsn(ceiling))
            try:
                with Stopwatch() as watch:
                    async with connection.transaction():
                        await connection.copy_records_to_table(
                            "contracts", records=contract_rows, columns=CONTRACT_COLUMNS
                        )
                        await connection.copy_records_to_table(
                            "contract_items", records=item_rows, columns=ITEM_COLUMNS
                        )
            finally:
                await connection.close()
            copy.add(watch.seconds)
    return replay_total, replay_apply, index_build, copy, load.contracts, load.items


async def stream_size_phase(
    urls: ServerUrls, contracts: int, churn: int, cycles: int
) -> tuple[int, int, int, int]:
    """Run the real fetcher against the simulator for ``cycles`` generations; returns the
    stream's bytes and messages, the live contracts and the contracts ever published."""
    prefix = unique_prefix("size")
    sim = Sim.build({REGION: contracts}, churn_per_generation=churn)
    settings = FetcherSettings(
        database_url=urls.database_url, nats_url=urls.nats_url, redis_url=urls.redis_url,
        name_prefix=prefix, esi_base_url=SIM_BASE_URL, regions=[REGION],
    )  # fmt: skip
    async with cleanup_after(urls, prefix, None, keep=False):
        async with fetcher_resources(settings, sim.transport) as fetcher:
            for cycle in range(cycles):
                if cycle:
                    sim.world.advance()
                await run_once(fetcher)
        client = await nats.connect(urls.nats_url)
        try:
            info = await client.jetstream().stream_info(Subjects(prefix).stream)
        finally:
            await client.close()
        live = len(sim.world.contracts(REGION))
        redis = aioredis.from_url(urls.redis_url)
        try:
            published = int(await redis.scard(f"{prefix}:known"))
        finally:
            await redis.aclose()
        return int(info.state.bytes), int(info.state.messages), live, published


async def main(options: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.WARNING)
    with benchmark_servers(options.work_dir) as urls:
        note(load_average())
        total, apply, index_build, copy, contracts, items = await rebuild_phase(
            urls, options.contracts, options.repeat
        )
        rows = contracts + items

        def row(path: str, seconds: float) -> list[str]:
            return [
                path,
                number(seconds, 3),
                number(rate(contracts, seconds)),
                number(rate(rows, seconds)),
                number(copy.median / seconds, 2),
            ]

        print_table(
            f"Rebuild of {contracts:,} contracts ({items:,} items), medians of {options.repeat}",
            ["path", "seconds", "contracts/s", "rows/s", "vs COPY"],
            [
                row("raw COPY into the real schema (ceiling)", copy.median),
                row(
                    "replay: apply time (indexes and keys built at the end included)", apply.median
                ),
                row("  of which building the set-aside indexes and keys", index_build.median),
                row("replay: end to end (NATS, parsing, acks)", total.median),
            ],
        )
        note(f"goal: apply time under 2 s for a 35k-contract region: {apply.median:.2f} s")
        if options.cycles:
            size, messages, live, published = await stream_size_phase(
                urls, options.cycle_contracts, options.churn, options.cycles
            )
            print_table(
                f"Stream after {options.cycles} simulated cycles "
                f"({options.cycle_contracts:,} contracts, churn {options.churn}/cycle)",
                ["bytes", "messages", "live contracts", "ever published", "bytes per live"],
                [
                    [
                        number(size),
                        number(messages),
                        number(live),
                        number(published),
                        number(size / live),
                    ]
                ],
            )
        note(load_average())


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--contracts", type=int, default=35_000, help="contracts in the rebuilt stream"
    )
    parser.add_argument("--repeat", type=int, default=3, help="rebuilds (medians are printed)")
    parser.add_argument(
        "--cycles", type=int, default=48, help="simulated cycles for the size figure (0: skip)"
    )
    parser.add_argument(
        "--cycle-contracts", type=int, default=5_000, help="contracts in the simulated region"
    )
    parser.add_argument(
        "--churn", type=int, default=16, help="contracts replaced per cycle (Forge: ~115 of 35k)"
    )
    parser.add_argument(
        "--work-dir", type=Path, default=None, help="keep embedded servers' data here"
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse()))
