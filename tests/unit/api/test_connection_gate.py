"""The connection gate hands out turns in order of arrival, bounded by the pool's timeout."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import CollectorRegistry, Histogram
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from services.api.connection_gate import ConnectionGate


async def test_a_request_arriving_as_a_turn_is_freed_waits_behind_those_waiting() -> None:
    gate = ConnectionGate(1, 10, None)
    order: list[str] = []

    async def request(name: str) -> None:
        async with gate.turn():
            order.append(name)

    holding = gate.turn()
    await holding.__aenter__()
    waiting = [asyncio.create_task(request(name)) for name in ("first", "second")]
    await asyncio.sleep(0)
    # the turn is freed and, before the waiters run, a new request asks for one
    await holding.__aexit__(None, None, None)
    await request("late")
    await asyncio.gather(*waiting)
    assert order == ["first", "second", "late"]


async def test_no_turn_within_the_timeout_is_the_pools_timeout_error() -> None:
    gate = ConnectionGate(1, 0.01, None)
    async with gate.turn():
        with pytest.raises(PoolTimeoutError):
            async with gate.turn():
                pass
    async with gate.turn():  # the turn that timed out took nothing
        pass


async def test_the_wait_is_measured() -> None:
    registry = CollectorRegistry()
    waited = Histogram("waited_seconds", "test", registry=registry)
    gate = ConnectionGate(2, 1, waited)
    async with gate.turn(), gate.turn():
        pass
    assert registry.get_sample_value("waited_seconds_count") == 2
