"""The fault matrix: each fault injected into a running Hangar Bay at three different moments,
the system left to recover, and the invariants checked against the simulator's truth.

By default (CI) only a representative subset runs, one injection each: persister SIGKILL
mid-batch, one of two persisters killed, NATS restart, PostgreSQL restart, ESI 5xx with HTML
bodies, a poison message, and
the proof that the suite fails when an invariant breaks; and, on the shared test servers, two
deterministic regressions of ordering bugs the scenarios found. ``HANGAR_FAULT_SUITE=full``
runs every scenario with every moment (see docs/RELIABILITY.md).
"""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg
import pytest

from common.db import asyncpg_dsn
from common.settings import HangarSettings
from common.subjects import Subjects
from services.esi_sim.faults import (
    FaultConfig,
    FaultRule,
    Html5xxFault,
    PageShiftFault,
    Rate429Fault,
    TimeoutFault,
)
from services.persister.consumer import consumer_config
from services.persister.main import serve
from services.persister.settings import PersisterSettings
from tests.faults.harness import (
    Injected,
    InjectionResult,
    Stack,
    StackConfig,
    full_suite,
    now,
    wait_until,
)
from tests.support import factories as f
from tests.support.stream import dead_letters, jetstream, publish

pytestmark = pytest.mark.faults

FULL = full_suite()
INJECTIONS = 3 if FULL else 1

Moment = Callable[[Stack], Awaitable[Injected]]

#: Every scenario starts the fetcher itself, at its first moment, so that the first fault
#: lands in the initial load for sure.
BASE = StackConfig(start_fetcher=False)
NO_PERSISTER = StackConfig(start_fetcher=False, start_persister=False)
#: Two list pages in the first region: a sweep can be split across generations.
TWO_PAGES = StackConfig(regions={10000002: 1500, 10000043: 200}, start_fetcher=False)
#: Two persister processes sharing the durable consumer, started at the first moment.
TWO_PERSISTERS = StackConfig(start_fetcher=False, start_persister=False, persisters=2)


@dataclass(frozen=True)
class Scenario:
    name: str
    moments: tuple[Moment, ...]
    config: StackConfig = BASE
    in_subset: bool = False
    deadline: float = 60.0
    #: A project bug that makes this scenario fail: it is then a strict xfail with that reason.
    bug: str | None = None
    full_timeout: int = 420


# -- shared steps ----------------------------------------------------------------------------


def ensure_fetcher(stack: Stack) -> None:
    if not stack.fetcher.wanted:
        stack.fetcher.start()


async def settled(stack: Stack) -> None:
    """Start an injection from a quiet, converged system."""
    converged_at, _, _, divergence = await stack.wait_converged(90)
    if converged_at is None:
        summary = divergence.summary() if divergence else "no comparison"
        raise AssertionError(f"the system did not settle before the injection: {summary}")


async def backlog(stack: Stack, generations: int) -> None:
    """Stop the persister gracefully and let the fetcher publish ``generations`` of churn."""
    await settled(stack)
    await stack.persister.stop(signal.SIGTERM)
    for _ in range(generations):
        await stack.advance()
        assert await stack.wait_published(60), "the fetcher did not publish the churn"


async def counter_rises(
    read: Callable[[], Awaitable[int]], by: int = 1, timeout: float = 60.0
) -> bool:
    start = await read()

    async def risen() -> bool:
        return await read() >= start + by

    return await wait_until(risen, timeout, interval=0.005)


def unobserved(hit: bool, moment: str, awaited: str) -> list[str]:
    """The injection's problem when the moment it waited for never came: the fault then
    landed elsewhere, and the scenario must fail rather than pass on another moment."""
    return [] if hit else [f"{moment}: {awaited} was not observed before the injection"]


def stream_sequence(stack: Stack) -> Callable[[], Awaitable[int]]:
    return stack.stream_last_sequence


def answered(stack: Stack, route: str, status: int | None = None) -> Callable[[], Awaitable[int]]:
    async def read() -> int:
        return await stack.requests_answered(route, status)

    return read


# -- persister -------------------------------------------------------------------------------


async def _kill_persister_in_transaction(
    stack: Stack,
    fault: str,
    moment: str,
    when_hit: str = "killed inside an open write transaction",
) -> Injected:
    stack.persister.start()
    hit = await stack.wait_write_transaction(60)
    injected_at = now()
    stack.persister.kill()
    await asyncio.sleep(0.5)
    stack.persister.start()
    detail = when_hit if hit else "no transaction seen"
    problems = unobserved(hit, moment, "a write transaction")
    return Injected(fault, moment, injected_at, now(), detail, problems)


async def persister_kill_initial(stack: Stack) -> Injected:
    ensure_fetcher(stack)
    assert await stack.wait_published(90), "the initial load was not published"
    return await _kill_persister_in_transaction(
        stack, "persister SIGKILL mid-batch", "initial load, first transaction"
    )


async def persister_kill_backlog(stack: Stack) -> Injected:
    await backlog(stack, 3)
    return await _kill_persister_in_transaction(
        stack, "persister SIGKILL mid-batch", "backlog of 3 generations"
    )


async def persister_kill_live(stack: Stack) -> Injected:
    await settled(stack)
    await stack.advance()
    assert await counter_rises(stream_sequence(stack)), "nothing was published"
    delay = stack.random.uniform(0.05, 0.3)
    await asyncio.sleep(delay)
    injected_at = now()
    stack.persister.kill()
    await asyncio.sleep(0.5)
    stack.persister.start()
    detail = f"killed {delay:.2f} s after the churn reached the stream"
    fault, moment = "persister SIGKILL mid-batch", "live churn, random delay"
    return Injected(fault, moment, injected_at, now(), detail)


def _last_handed_back(log: str) -> int:
    """How many messages the persister's last run handed back: the sum of its "unsettled
    messages handed back" lines, one per subscription (0 if that run said none)."""
    last_run = log.rsplit("===== start #", 1)[-1]
    return sum(
        int(json.loads(line)["messages"])
        for line in last_run.splitlines()
        if '"unsettled messages handed back"' in line
    )


async def _terminate_persister(
    stack: Stack, moment: str, hit: bool, awaited: str | None = "a write transaction"
) -> Injected:
    injected_at = now()
    code = await stack.persister.stop(signal.SIGTERM, timeout=40)
    problems = [] if awaited is None else unobserved(hit, moment, awaited)
    if code != 0:
        problems.append(f"the persister exited with {code} on SIGTERM")
    state = await stack.consumer_state()
    # Graceful: every delivery settled, or handed back (nak: redelivered at once, but counted
    # as pending an ack until then), as the persister's last words say.
    handed_back = _last_handed_back(stack.persister.log_path.read_text(errors="replace"))
    if f"ack_pending={handed_back} " not in state + " ":
        problems.append(f"SIGTERM left deliveries unsettled: {state}; handed back {handed_back}")
    stack.persister.start()
    detail = f"exit {code}; {'inside a transaction' if hit else 'idle'}; {state}"
    return Injected("persister SIGTERM", moment, injected_at, now(), detail, problems)


async def persister_term_initial(stack: Stack) -> Injected:
    ensure_fetcher(stack)
    assert await stack.wait_published(90), "the initial load was not published"
    stack.persister.start()
    hit = await stack.wait_write_transaction(60)
    return await _terminate_persister(stack, "initial load, first transaction", hit)


async def persister_term_backlog(stack: Stack) -> Injected:
    await backlog(stack, 2)
    stack.persister.start()
    hit = await stack.wait_write_transaction(60)
    return await _terminate_persister(stack, "backlog of 2 generations", hit)


async def persister_term_idle(stack: Stack) -> Injected:
    await settled(stack)
    assert await stack.persister.wait_logged("persister consuming"), "the persister is not up"
    injected = await _terminate_persister(stack, "idle, churn after restart", False, None)
    await stack.advance()
    return injected


async def one_of_two_persisters_killed(stack: Stack) -> Injected:
    """The initial load published, both persisters started on it, the first one killed while
    a write transaction is open (its fetch is redelivered after ack_wait, to either)."""
    ensure_fetcher(stack)
    assert await stack.wait_published(90), "the initial load was not published"
    for persister in stack.persisters[1:]:
        persister.start()
    # PostgreSQL does not say which process a transaction belongs to (the embedded server is
    # reached through a Unix socket): the first persister is killed while one is open.
    return await _kill_persister_in_transaction(
        stack,
        "persister SIGKILL mid-batch",
        "initial load, both applying",
        "one killed while a write transaction (its own or the other's) was open",
    )


def with_two_persisters(moment: Moment) -> Moment:
    """``moment`` on a stack with two persisters, reported as a fault of its own."""

    async def inject(stack: Stack) -> Injected:
        assert len(stack.persisters) == 2, "the scenario needs two persisters"
        injected = await moment(stack)
        injected.fault = f"two persisters: {injected.fault}"
        return injected

    return inject


# -- fetcher ---------------------------------------------------------------------------------


async def _kill_fetcher(stack: Stack, fault: str, moment: str, hit: bool) -> Injected:
    injected_at = now()
    stack.fetcher.kill()
    await asyncio.sleep(0.5)
    stack.fetcher.start()
    detail = "at the awaited moment" if hit else "the awaited moment was not seen"
    problems = [] if hit else [f"{moment}: the moment to kill at was not observed"]
    return Injected(fault, moment, injected_at, now(), detail, problems)


async def fetcher_kill_listing_initial(stack: Stack) -> Injected:
    ensure_fetcher(stack)
    hit = await counter_rises(answered(stack, "contracts", 200))
    return await _kill_fetcher(stack, "fetcher SIGKILL mid-sweep", "initial sweep, list pages", hit)


async def fetcher_kill_listing_churn(stack: Stack) -> Injected:
    await settled(stack)
    read = answered(stack, "contracts", 200)
    start = await read()
    await stack.advance()

    async def risen() -> bool:
        return await read() > start

    hit = await wait_until(risen, 30, interval=0.005)
    return await _kill_fetcher(stack, "fetcher SIGKILL mid-sweep", "churn sweep, list pages", hit)


async def fetcher_kill_enrichment(stack: Stack) -> Injected:
    await settled(stack)
    read = answered(stack, "items")
    start = await read()
    await stack.advance()

    async def risen() -> bool:
        return await read() >= start + 5

    hit = await wait_until(risen, 30, interval=0.005)
    return await _kill_fetcher(stack, "fetcher SIGKILL mid-sweep", "churn, enriching items", hit)


async def fetcher_kill_publish_initial(stack: Stack) -> Injected:
    ensure_fetcher(stack)
    hit = await counter_rises(stream_sequence(stack), timeout=90)
    return await _kill_fetcher(
        stack, "fetcher SIGKILL mid-publish", "initial load, after the 1st message", hit
    )


async def _fetcher_kill_publish_churn(stack: Stack, nth: int) -> Injected:
    await settled(stack)
    read = stream_sequence(stack)
    start = await read()
    await stack.advance()

    async def risen() -> bool:
        return await read() >= start + nth

    hit = await wait_until(risen, 30, interval=0.005)
    return await _kill_fetcher(
        stack, "fetcher SIGKILL mid-publish", f"churn, after the message #{nth}", hit
    )


async def fetcher_kill_publish_first(stack: Stack) -> Injected:
    return await _fetcher_kill_publish_churn(stack, 1)


async def fetcher_kill_publish_second(stack: Stack) -> Injected:
    return await _fetcher_kill_publish_churn(stack, 2)


# -- PostgreSQL ------------------------------------------------------------------------------


async def postgres_restart_initial(stack: Stack) -> Injected:
    ensure_fetcher(stack)
    hit = await stack.wait_write_transaction(90)
    injected_at = now()
    await stack.restart_postgres("fast", down_for=2.0)
    detail = "fast shutdown " + ("during a write transaction" if hit else "(no write seen)")
    moment = "initial load, applying"
    problems = unobserved(hit, moment, "a write transaction")
    return Injected("PostgreSQL restart", moment, injected_at, now(), detail, problems)


async def postgres_crash_churn(stack: Stack) -> Injected:
    await settled(stack)
    await stack.advance()
    hit = await stack.wait_write_transaction(30)
    injected_at = now()
    await stack.restart_postgres("immediate", down_for=2.0)
    detail = "immediate shutdown (crash) " + ("while applying" if hit else "(no write seen)")
    problems = unobserved(hit, "churn, applying", "a write transaction")
    return Injected("PostgreSQL restart", "churn, applying", injected_at, now(), detail, problems)


async def postgres_restart_idle(stack: Stack) -> Injected:
    await settled(stack)
    injected_at = now()
    await stack.restart_postgres("fast", down_for=3.0, during=stack.advance)
    return Injected(
        "PostgreSQL restart", "idle, churn while down", injected_at, now(), "fast shutdown"
    )


def _long_outage(moment: str, wait: Callable[[Stack], Awaitable[None]]) -> Moment:
    async def inject(stack: Stack) -> Injected:
        await wait(stack)
        hit = await stack.wait_write_transaction(60)
        injected_at = now()
        await stack.restart_postgres("fast", down_for=15.0)
        detail = "15 s down " + ("during a write transaction" if hit else "(no write seen)")
        problems = unobserved(hit, moment, "a write transaction")
        return Injected("PostgreSQL down 15 s", moment, injected_at, now(), detail, problems)

    return inject


async def _initial(stack: Stack) -> None:
    ensure_fetcher(stack)


async def _churn(stack: Stack) -> None:
    await settled(stack)
    await stack.advance()


async def _churn_twice(stack: Stack) -> None:
    await settled(stack)
    await stack.advance()
    await stack.advance()


# -- NATS ------------------------------------------------------------------------------------


async def nats_restart_initial(stack: Stack) -> Injected:
    ensure_fetcher(stack)
    hit = await counter_rises(stream_sequence(stack), timeout=90)
    injected_at = now()
    await stack.restart_nats(signal.SIGTERM, down_for=2.0)
    detail = "SIGTERM " + ("while publishing" if hit else "(publishing not seen)")
    moment = "initial load, publishing"
    problems = unobserved(hit, moment, "a publication")
    return Injected("NATS restart", moment, injected_at, now(), detail, problems)


async def nats_kill_churn(stack: Stack) -> Injected:
    await settled(stack)
    read = answered(stack, "contracts", 200)
    start = await read()
    await stack.advance()

    async def sweeping() -> bool:
        return await read() > start

    hit = await wait_until(sweeping, 30, interval=0.005)
    injected_at = now()
    await stack.restart_nats(signal.SIGKILL, down_for=2.0)
    detail = "SIGKILL " + ("while sweeping" if hit else "(sweep not seen)")
    problems = unobserved(hit, "churn, sweeping", "a list page answered")
    return Injected("NATS restart", "churn, sweeping", injected_at, now(), detail, problems)


async def nats_restart_idle(stack: Stack) -> Injected:
    await settled(stack)
    injected_at = now()
    await stack.restart_nats(signal.SIGTERM, down_for=3.0, during=stack.advance)
    return Injected("NATS restart", "idle, churn while down", injected_at, now(), "SIGTERM")


# -- Redis -----------------------------------------------------------------------------------


async def redis_flush_initial(stack: Stack) -> Injected:
    ensure_fetcher(stack)
    hit = await counter_rises(answered(stack, "items"), by=50, timeout=90)
    injected_at = now()
    await stack.flush_redis()
    detail = "FLUSHALL " + ("while enriching" if hit else "(enrichment not seen)")
    moment = "initial load, enriching"
    problems = unobserved(hit, moment, "50 item pages answered")
    return Injected("Redis flushed", moment, injected_at, now(), detail, problems)


async def redis_flush_churn(stack: Stack) -> Injected:
    await settled(stack)
    read = answered(stack, "contracts", 200)
    start = await read()
    await stack.advance()

    async def sweeping() -> bool:
        return await read() > start

    hit = await wait_until(sweeping, 30, interval=0.005)
    injected_at = now()
    await stack.flush_redis()
    problems = unobserved(hit, "churn, sweeping", "a list page answered")
    return Injected("Redis flushed", "churn, sweeping", injected_at, now(), "FLUSHALL", problems)


async def redis_flush_idle(stack: Stack) -> Injected:
    await settled(stack)
    injected_at = now()
    await stack.flush_redis()
    cleared_at = now()
    await stack.advance()
    return Injected("Redis flushed", "idle, churn after", injected_at, cleared_at, "FLUSHALL")


async def redis_restart_initial(stack: Stack) -> Injected:
    ensure_fetcher(stack)
    hit = await counter_rises(answered(stack, "items"), by=50, timeout=90)
    injected_at = now()
    await stack.restart_redis(signal.SIGTERM, down_for=1.0)
    moment = "initial load, enriching"
    problems = unobserved(hit, moment, "50 item pages answered")
    return Injected("Redis restarted", moment, injected_at, now(), "SIGTERM (saves)", problems)


async def redis_kill_churn(stack: Stack) -> Injected:
    await settled(stack)
    read = answered(stack, "items")
    start = await read()
    await stack.advance()

    async def enriching() -> bool:
        return await read() > start

    hit = await wait_until(enriching, 30, interval=0.005)
    injected_at = now()
    await stack.restart_redis(signal.SIGKILL, down_for=1.0)
    detail = "SIGKILL (unsaved writes lost)"
    problems = unobserved(hit, "churn, enriching", "an item page answered")
    return Injected("Redis restarted", "churn, enriching", injected_at, now(), detail, problems)


async def redis_kill_idle(stack: Stack) -> Injected:
    await settled(stack)
    injected_at = now()
    await stack.restart_redis(signal.SIGKILL, down_for=2.0, during=stack.advance)
    return Injected("Redis restarted", "idle, churn while down", injected_at, now(), "SIGKILL")


# -- ESI -------------------------------------------------------------------------------------


def esi_fault(
    fault: str,
    moment: str,
    config: FaultConfig,
    name: str,
    *,
    initial: bool = False,
    fired: int = 3,
    lasting: float = 0.0,
) -> Moment:
    """Configure ``config`` in the simulator, create work (the initial load or a new
    generation), wait until the fault fired ``fired`` times (and ``lasting`` seconds more),
    then clear it."""

    async def inject(stack: Stack) -> Injected:
        if not initial:
            await settled(stack)
        await stack.set_esi_faults(config)
        injected_at = now()
        if initial:
            ensure_fetcher(stack)
        else:
            await stack.advance()

        async def enough() -> bool:
            return (await stack.faults_fired()).get(name, 0) >= fired

        hit = await wait_until(enough, 60, interval=0.05)
        await asyncio.sleep(lasting)
        count = (await stack.faults_fired()).get(name, 0)
        await stack.clear_esi_faults()
        problems = unobserved(hit, moment, f"the ESI fault {name} firing {fired} times")
        return Injected(fault, moment, injected_at, now(), f"fired {count} times", problems)

    return inject


def _html(probability: float, count: int, routes: list[str] | None) -> FaultConfig:
    return FaultConfig(
        html_5xx=Html5xxFault.model_validate(
            {"probability": probability, "count": count, "routes": routes}
        )
    )


def _rule(
    name: str, routes: list[str] | None, model: type[FaultRule] = FaultRule, **values: object
) -> FaultConfig:
    return FaultConfig.model_validate({name: model.model_validate({**values, "routes": routes})})


# -- poison ----------------------------------------------------------------------------------


async def poison_initial(stack: Stack) -> Injected:
    ensure_fetcher(stack)
    hit = await counter_rises(stream_sequence(stack), timeout=90)
    injected_at = now()
    kinds = await stack.publish_poison(3)
    problems = unobserved(hit, "initial load", "a publication")
    return Injected(
        "poison message", "initial load", injected_at, now(), ", ".join(kinds), problems
    )


async def poison_churn(stack: Stack) -> Injected:
    await settled(stack)
    await stack.advance()
    injected_at = now()
    kinds = await stack.publish_poison(3)
    return Injected("poison message", "churn, interleaved", injected_at, now(), ", ".join(kinds))


async def poison_idle(stack: Stack) -> Injected:
    await settled(stack)
    injected_at = now()
    kinds = await stack.publish_poison(4)
    return Injected("poison message", "idle", injected_at, now(), ", ".join(kinds))


async def poison_then_redis_flush(stack: Stack) -> Injected:
    ensure_fetcher(stack)
    await settled(stack)
    injected_at = now()
    kinds = await stack.publish_poison(3)
    hit = await wait_until(_all_dead_lettered(stack), 30, interval=0.2)
    await stack.flush_redis()
    cleared_at = now()
    await stack.advance()
    problems = unobserved(hit, "idle", "every poison message dead-lettered")
    fault = "poison message, then Redis flushed"
    return Injected(fault, "idle", injected_at, cleared_at, ", ".join(kinds), problems)


def _all_dead_lettered(stack: Stack) -> Callable[[], Awaitable[bool]]:
    async def lettered() -> bool:
        sequences = {letter.stream_sequence for letter in await stack.dead_letters()}
        return all(sequence in sequences for sequence in stack.poison)

    return lettered


# -- the matrix ------------------------------------------------------------------------------


SCENARIOS = [
    Scenario(
        "persister-sigkill-mid-batch",
        (persister_kill_initial, persister_kill_backlog, persister_kill_live),
        NO_PERSISTER,
        in_subset=True,
    ),
    Scenario(
        "two-persisters",
        (
            with_two_persisters(one_of_two_persisters_killed),
            with_two_persisters(postgres_crash_churn),
            with_two_persisters(nats_restart_idle),
        ),
        TWO_PERSISTERS,
        in_subset=True,
    ),
    Scenario(
        "persister-sigterm",
        (persister_term_initial, persister_term_backlog, persister_term_idle),
        NO_PERSISTER,
    ),
    Scenario(
        "fetcher-sigkill-mid-sweep",
        (fetcher_kill_listing_initial, fetcher_kill_listing_churn, fetcher_kill_enrichment),
        TWO_PAGES,
    ),
    Scenario(
        "fetcher-sigkill-mid-publish",
        (fetcher_kill_publish_initial, fetcher_kill_publish_first, fetcher_kill_publish_second),
    ),
    Scenario(
        "postgres-restart",
        (postgres_restart_initial, postgres_crash_churn, postgres_restart_idle),
        in_subset=True,
    ),
    Scenario(
        "postgres-long-outage",
        (
            _long_outage("initial load, applying", _initial),
            _long_outage("churn, applying", _churn),
            _long_outage("two generations of churn, applying", _churn_twice),
        ),
        deadline=45,
    ),
    Scenario(
        "nats-restart",
        (nats_restart_initial, nats_kill_churn, nats_restart_idle),
        in_subset=True,
    ),
    Scenario("redis-flush", (redis_flush_initial, redis_flush_churn, redis_flush_idle)),
    Scenario("redis-restart", (redis_restart_initial, redis_kill_churn, redis_kill_idle)),
    Scenario(
        "esi-5xx-html",
        (
            esi_fault(
                "ESI 5xx HTML",
                "initial load, all routes",
                _html(0.3, 25, None),
                "html_5xx",
                initial=True,
                fired=25,
            ),
            esi_fault(
                "ESI 5xx HTML",
                "churn, list pages",
                _html(0.5, 6, ["contracts"]),
                "html_5xx",
                fired=6,
            ),
            esi_fault(
                "ESI 5xx HTML",
                "churn, items",
                _html(0.5, 20, ["items"]),
                "html_5xx",
                fired=10,
                lasting=2,
            ),
        ),
        in_subset=True,
    ),
    Scenario(
        "esi-420-storm",
        (
            esi_fault(
                "ESI 420 storm",
                "initial load, everything 420",
                _rule("error_420", None),
                "error_420",
                initial=True,
                fired=1,
                lasting=2,
            ),
            esi_fault(
                "ESI 420 storm",
                "churn, list pages",
                _rule("error_420", ["contracts"]),
                "error_420",
                fired=1,
                lasting=2,
            ),
            esi_fault(
                "ESI 420 storm",
                "churn, items",
                _rule("error_420", ["items"]),
                "error_420",
                fired=1,
                lasting=2,
            ),
        ),
        deadline=150,
        full_timeout=900,
    ),
    Scenario(
        "esi-429-retry-after",
        (
            esi_fault(
                "ESI 429 Retry-After",
                "initial load",
                _rule("rate_429", None, Rate429Fault, retry_after=2, count=10),
                "rate_429",
                initial=True,
                fired=10,
            ),
            esi_fault(
                "ESI 429 Retry-After",
                "churn, list pages",
                _rule("rate_429", ["contracts"], Rate429Fault, retry_after=3, count=3),
                "rate_429",
                fired=3,
            ),
            esi_fault(
                "ESI 429 Retry-After",
                "churn, items",
                _rule("rate_429", ["items"], Rate429Fault, retry_after=1, count=8),
                "rate_429",
                fired=4,
                lasting=1,
            ),
        ),
    ),
    Scenario(
        "esi-timeouts",
        (
            esi_fault(
                "ESI timeouts",
                "initial load",
                _rule("timeout", None, TimeoutFault, seconds=3, count=8),
                "timeout",
                initial=True,
                fired=8,
            ),
            esi_fault(
                "ESI timeouts",
                "churn, list pages",
                _rule("timeout", ["contracts"], TimeoutFault, seconds=3, count=3),
                "timeout",
                fired=3,
            ),
            esi_fault(
                "ESI timeouts",
                "churn, items",
                _rule("timeout", ["items"], TimeoutFault, seconds=3, count=6),
                "timeout",
                fired=4,
            ),
        ),
    ),
    Scenario(
        "esi-malformed-json",
        (
            esi_fault(
                "ESI malformed JSON",
                "initial load",
                _rule("malformed_json", None, probability=0.3, count=20),
                "malformed_json",
                initial=True,
                fired=20,
            ),
            esi_fault(
                "ESI malformed JSON",
                "churn, list pages",
                _rule("malformed_json", ["contracts"], count=3),
                "malformed_json",
                fired=3,
            ),
            esi_fault(
                "ESI malformed JSON",
                "churn, items",
                _rule("malformed_json", ["items"], probability=0.5, count=10),
                "malformed_json",
                fired=5,
                lasting=1,
            ),
        ),
    ),
    Scenario(
        "esi-page-shift",
        (
            esi_fault(
                "page shift mid-sweep",
                "initial sweep",
                _rule("page_shift", None, PageShiftFault, count=1),
                "page_shift",
                initial=True,
                fired=1,
            ),
            esi_fault(
                "page shift mid-sweep",
                "churn sweep",
                _rule("page_shift", None, PageShiftFault, count=1),
                "page_shift",
                fired=1,
            ),
            esi_fault(
                "page shift mid-sweep",
                "churn sweep, shifted twice",
                _rule("page_shift", None, PageShiftFault, count=2),
                "page_shift",
                fired=2,
            ),
        ),
        TWO_PAGES,
    ),
    Scenario("poison-message", (poison_initial, poison_churn, poison_idle), in_subset=True),
    Scenario(
        "poison-then-redis-flush",
        (poison_then_redis_flush, poison_then_redis_flush, poison_then_redis_flush),
    ),
]


def _selected() -> list[object]:
    chosen: list[object] = []
    for scenario in SCENARIOS:
        if not (FULL or scenario.in_subset):
            continue
        marks: list[pytest.MarkDecorator] = [
            pytest.mark.timeout(scenario.full_timeout if FULL else 150)
        ]
        if scenario.bug:
            marks.append(pytest.mark.xfail(strict=True, reason=scenario.bug))
        chosen.append(pytest.param(scenario, id=scenario.name, marks=marks))
    return chosen


async def run_scenario(scenario: Scenario, injections: int) -> list[InjectionResult]:
    results = []
    async with Stack.run(scenario.config, scenario.name) as stack:
        for moment in scenario.moments[:injections]:
            injected = await moment(stack)
            results.append(await stack.check(scenario.name, injected, scenario.deadline))
            if not results[-1].converged:
                break  # the next moments would start from a broken state
    return results


def describe(results: list[InjectionResult]) -> str:
    lines = []
    for result in results:
        status = "ok" if result.ok else "FAILED"
        lines.append(
            f"[{status}] {result.fault} / {result.moment} ({result.detail}): recovered in "
            f"{result.recovery_seconds} s, lost {result.lost}"
        )
        lines.extend(f"    - {problem}" for problem in result.problems())
    return "\n".join(lines)


@pytest.mark.parametrize("scenario", _selected())
async def test_fault_scenario(scenario: Scenario) -> None:
    results = await run_scenario(scenario, INJECTIONS)
    assert all(result.ok for result in results), describe(results)


#: How the report tells the deliberately broken control run from the real matrix.
BROKEN = "acking before commit (deliberately broken)"


@pytest.mark.timeout(150)
async def test_the_suite_catches_a_persister_that_acks_before_commit() -> None:
    """The same injection as ``persister-sigkill-mid-batch``, on a persister that acks each
    fetch before committing it (patched in its own process only): the checker must fail."""
    config = StackConfig(
        regions={10000002: 400, 10000043: 150},
        start_fetcher=False,
        start_persister=False,
        persister_module="tests.faults.ack_before_commit",
    )
    async with Stack.run(config, "ack-before-commit", keep_failures=False) as stack:
        injected = await persister_kill_initial(stack)
        assert injected.detail == "killed inside an open write transaction"
        injected.fault = f"{injected.fault}, {BROKEN}"
        result = await stack.check("ack-before-commit", injected, 15)
    assert not result.ok, "the checker missed contracts lost by acking before commit"
    assert not result.converged
    assert result.missing, describe([result])
    assert any("missing contracts" in problem for problem in result.problems())


async def test_a_contracts_batch_applied_after_a_newer_sweep_does_not_resurrect_its_contract(
    settings: HangarSettings,
) -> None:
    """Contract 3 is listed by generation 1 and gone by generation 2. The persister may apply
    the sweep of generation 2 before the contracts batch of generation 1: JetStream redelivers
    an unacknowledged fetch only after ack_wait, behind newer messages (after a crash, for
    example). Contract 3 must not end up outstanding."""
    batch = f.batch([f.contract(1), f.contract(2), f.contract(3)], gen=1)
    persister = PersisterSettings.model_validate(
        {**settings.model_dump(), "retry_delay_seconds": 0.1, "ack_wait_seconds": 2}
    )
    async with jetstream(settings) as (_, js):
        await publish(js, settings, f.sweep([1, 2], gen=2))
        await serve(persister, until_idle=True)  # the sweep is applied in one fetch...
        await publish(js, settings, batch)
        await serve(persister, until_idle=True)  # ...the late batch in a later one
    connection = await asyncpg.connect(asyncpg_dsn(settings.database_url))
    try:
        rows = await connection.fetch("SELECT contract_id, status FROM contracts")
    finally:
        await connection.close()
    status = {row["contract_id"]: row["status"] for row in rows}
    assert status[1] == status[2] == "outstanding"
    assert status.get(3, "gone") == "gone", "a contract gone at generation 2 is outstanding"


async def test_bids_wait_for_their_contracts_batch_when_it_is_redelivered_late(
    settings: HangarSettings,
) -> None:
    """A persister fetched the contracts batch and died: JetStream redelivers it only after
    ack_wait, while the bids behind it are delivered at once. The bids must wait for their
    contract rather than be dead-lettered (the defaults' proportions, scaled down: retries
    0.2 s apart, ack_wait 3 s)."""
    batch = f.batch([f.contract(7001, type_="auction")], gen=1)
    persister = PersisterSettings.model_validate(
        {**settings.model_dump(), "ack_wait_seconds": 3, "retry_delay_seconds": 0.2}
    )
    subjects = Subjects(settings.name_prefix)
    async with jetstream(settings) as (_, js):
        await publish(js, settings, batch, f.bids(7001, [71, 72], gen=1))
        # a persister fetches the contracts batch and dies before settling it
        subscription = await js.pull_subscribe(
            subjects.all_events, durable=subjects.persister_durable, stream=subjects.stream,
            config=consumer_config(persister),
        )  # fmt: skip
        fetched = await subscription.fetch(1, timeout=5)
        assert [m.subject for m in fetched] == [subjects.contracts(10000002, batch.batch_key())]
        await subscription.unsubscribe()
        await serve(persister, until_idle=True)
        letters = await dead_letters(js, settings)
    connection = await asyncpg.connect(asyncpg_dsn(settings.database_url))
    try:
        bids = {r["bid_id"] for r in await connection.fetch("SELECT bid_id FROM contract_bids")}
    finally:
        await connection.close()
    assert not letters, [letter.reason for letter in letters]
    assert bids == {71, 72}
