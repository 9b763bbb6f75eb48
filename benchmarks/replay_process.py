"""The replay into one database in a process of its own, for ``bench_replay``: prints its
report as one JSON line.

    python -m benchmarks.replay_process TARGET_DATABASE_URL     (HANGAR_* settings as usual)
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys

from common.settings import HangarSettings
from services.rebuild.replay import replay


def main(target: str) -> None:
    logging.basicConfig(level=logging.WARNING)
    report = asyncio.run(replay(HangarSettings(), target, migrate=False))
    print(
        json.dumps(
            {
                "contracts": report.contracts,
                "rows": report.rows,
                "rejected": report.rejected,
                "seconds": report.seconds,
                "apply_seconds": report.apply_seconds,
                "index_seconds": report.index_seconds,
                "set_aside": len(report.set_aside),
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1])
