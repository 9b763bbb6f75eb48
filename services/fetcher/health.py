"""The fetcher's health: every followed region completes a sweep within its window.

A region's window is the delay its loop planned before the next sweep plus a grace period for
the sweep itself; at start, the grace period alone. A publish during a long sweep (a first
sweep enriches thousands of contracts) extends the window by the grace period. A region whose
cycles keep failing, or whose loop has stopped, stops completing sweeps and publishing, and
makes the process unhealthy.
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

    def progressed(self, region: int) -> None:
        """A sweep of ``region`` under way published something: it is not stuck."""
        if region in self._deadlines:
            self._deadlines[region] = max(self._deadlines[region], self._clock() + self._grace)

    def due_in(self, region: int) -> float:
        """Seconds left before ``region`` is overdue (negative: overdue)."""
        return self._deadlines[region] - self._clock()

    def overdue(self) -> list[int]:
        now = self._clock()
        return sorted(region for region, deadline in self._deadlines.items() if deadline < now)

    def healthy(self) -> bool:
        return bool(self._deadlines) and not self.overdue()
