"""The fetcher's health: every followed region completes a sweep within its window.

A region's window is the delay its loop planned before the next sweep plus a grace period for
the sweep itself; at start, the grace period alone. A region whose cycles keep failing, or
whose loop has stopped, stops completing sweeps and makes the process unhealthy.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable


class SweepDeadlines:
    def __init__(self, grace_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._grace = grace_seconds
        self._clock = clock
        self._deadlines: dict[int, float] = {}

    def follow(self, regions: Iterable[int]) -> None:
        now = self._clock()
        for region in regions:
            self._deadlines[region] = now + self._grace

    def completed(self, region: int, next_sweep_in: float) -> None:
        """A sweep of ``region`` completed (and was published); the next is due after
        ``next_sweep_in`` seconds."""
        self._deadlines[region] = self._clock() + next_sweep_in + self._grace

    def overdue(self) -> list[int]:
        now = self._clock()
        return sorted(region for region, deadline in self._deadlines.items() if deadline < now)

    def healthy(self) -> bool:
        return bool(self._deadlines) and not self.overdue()
