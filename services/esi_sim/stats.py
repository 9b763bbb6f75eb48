"""Request counters of the simulator, by route kind and status."""

from __future__ import annotations

from collections import Counter
from typing import Any

from services.esi_sim.faults import ROUTE_KINDS

OTHER = "other"
"""Kind of requests to paths that are not simulated ESI routes."""


class SimStats:
    """Counts of answered ESI requests (admin routes are not counted)."""

    def __init__(self) -> None:
        self._by_kind: dict[str, Counter[int]] = {}
        self._not_modified = 0
        self.reset()

    def reset(self) -> None:
        self._by_kind = {kind: Counter() for kind in (*ROUTE_KINDS, OTHER)}
        self._not_modified = 0

    def record(self, kind: str, status: int) -> None:
        self._by_kind.setdefault(kind, Counter())[status] += 1
        if status == 304:
            self._not_modified += 1

    def count(self, kind: str, status: int | None = None) -> int:
        counter = self._by_kind.get(kind, Counter())
        return counter.total() if status is None else counter[status]

    def snapshot(self) -> dict[str, Any]:
        """``{"total", "not_modified", "by_route": {kind: n}, "requests": {kind: {status: n}}}``."""
        return {
            "total": sum(counter.total() for counter in self._by_kind.values()),
            "not_modified": self._not_modified,
            "by_route": {kind: counter.total() for kind, counter in self._by_kind.items()},
            "requests": {
                kind: {str(status): n for status, n in sorted(counter.items())}
                for kind, counter in self._by_kind.items()
            },
        }
