"""The fetcher's health deadlines, on a clock the test moves."""

from __future__ import annotations

from services.fetcher.health import SweepDeadlines


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_region_is_overdue_when_no_sweep_completes_within_its_window() -> None:
    clock = Clock()
    deadlines = SweepDeadlines(grace_seconds=60, clock=clock)
    assert not deadlines.healthy()  # following nothing yet: not serving
    deadlines.follow([1, 2])
    clock.now += 59
    assert deadlines.healthy()
    deadlines.completed(1, next_sweep_in=300)
    clock.now += 2
    assert deadlines.overdue() == [2]  # never completed a sweep in its grace period
    assert not deadlines.healthy()
    deadlines.completed(2, next_sweep_in=10)
    assert deadlines.healthy()
    clock.now += 10 + 60 + 1
    assert deadlines.overdue() == [2]  # its next sweep was due and did not complete
    clock.now += 300
    assert deadlines.overdue() == [1, 2]


def test_a_publish_during_a_long_sweep_extends_its_window() -> None:
    clock = Clock()
    deadlines = SweepDeadlines(grace_seconds=60, clock=clock)
    deadlines.follow([1])
    clock.now += 50
    deadlines.progressed(1)
    clock.now += 50
    assert deadlines.healthy()  # 100 s into its first sweep, published 50 s ago
    clock.now += 11
    assert deadlines.overdue() == [1]
    deadlines.progressed(2)  # a region not followed is not made up
    assert deadlines.overdue() == [1]
