"""What ``hangar-bay up`` tells a new user, against a served API on real PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

from services.stack.first_minutes import FirstSweepProgress, expected_regions, wait_for_api
from services.stack.servers import free_port
from tests.browser.site import serving
from tests.integration.test_api_support import DOMAIN, THE_FORGE, contract, seed


def test_expected_regions_follow_the_setting() -> None:
    assert expected_regions("10000002,10000043") == 2
    assert expected_regions("") is None


def test_an_api_that_exited_is_not_waited_for() -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    assert wait_for_api(f"http://127.0.0.1:{free_port()}", gone, timeout_s=30) is False


async def test_progress_reports_each_region_then_the_address(database_url: str) -> None:
    now = datetime.now(UTC)
    await seed(
        database_url,
        [contract(1), contract(2, region_id=DOMAIN)],
        sweeps=[
            {
                "region_id": THE_FORGE,
                "generation": now - timedelta(minutes=2),
                "swept_at": now - timedelta(minutes=1),
                "contract_count": 1,
                "contract_ids": [1],
            }
        ],
    )
    said: list[str] = []
    with serving(database_url) as url:
        progress = FirstSweepProgress(url, 2, said.append, interval_s=0)
        progress.poll()
        assert said == [f"first sweep: region {THE_FORGE} done (1 contracts), 1 of 2 regions"]
        assert not progress.done
        progress.poll()
        assert len(said) == 1  # nothing new, nothing said
    with serving(database_url) as url:
        progress = FirstSweepProgress(url, None, said.append, interval_s=0)
        progress.poll()
        assert progress.done
        assert said[-1] == f"data is there: {url}/"
