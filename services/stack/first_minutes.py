"""What ``hangar-bay up`` tells a new user: the address once the API answers, then the first
sweep's progress until every region followed has data."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable

import httpx

POLL_INTERVAL_S = 3.0


def wait_for_api(api_url: str, process: subprocess.Popen[bytes], timeout_s: float = 120.0) -> bool:
    """Whether the API answered ``/readyz`` (database reachable) before ``timeout_s``; false
    at once when its process has exited."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            if httpx.get(f"{api_url}/readyz", timeout=2).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    return False


def banner(api_url: str, source: str, data_dir: str, metrics: str = "") -> str:
    """What ``hangar-bay up`` prints once the API answers; ``metrics``: lines of its own."""
    return (
        f"\nHangar Bay is up, reading {source}\n"
        f"  contracts: {api_url}/\n"
        f"  API:       {api_url}/v1/contracts\n"
        f"  API docs:  {api_url}/docs\n"
        f"{metrics}"
        f"  data:      {data_dir}\nPress Ctrl-C to stop.\n"
    )


class FirstSweepProgress:
    """Polls ``/v1/regions`` and reports each region whose first sweep completes, until every
    expected region (``expected``; None: not known in advance, then the first one) has one."""

    def __init__(
        self,
        api_url: str,
        expected: int | None,
        say: Callable[[str], None],
        interval_s: float = POLL_INTERVAL_S,
    ) -> None:
        self._api_url = api_url
        self._expected = expected
        self._say = say
        self._interval_s = interval_s
        self._next_poll = 0.0
        self._swept: set[int] = set()
        self._announced = False
        self.done = False

    def poll(self) -> None:
        now = time.monotonic()
        if self.done or now < self._next_poll:
            return
        self._next_poll = now + self._interval_s
        try:
            answer = httpx.get(f"{self._api_url}/v1/regions", timeout=5)
            regions = answer.json()["regions"] if answer.status_code == 200 else []
        except (httpx.HTTPError, ValueError, KeyError):
            return
        swept = {
            region["region_id"]: region["outstanding_contracts"]
            for region in regions
            if region.get("last_sweep_at") is not None
        }
        if not self._swept and not swept and not self._announced:
            self._announced = True
            self._say("first sweep in progress: no region has complete data yet")
        for region_id in sorted(set(swept) - self._swept):
            self._swept.add(region_id)
            of = f" of {self._expected}" if self._expected else ""
            self._say(
                f"first sweep: region {region_id} done ({swept[region_id]:,} contracts), "
                f"{len(self._swept)}{of} regions"
            )
        if self._swept and (self._expected is None or len(self._swept) >= self._expected):
            self.done = True
            self._say(f"data is there: {self._api_url}/")


def expected_regions(regions_setting: str) -> int | None:
    """How many regions the fetcher follows (``HANGAR_REGIONS``), None for every region."""
    names = [name for name in regions_setting.split(",") if name.strip()]
    return len(names) or None
