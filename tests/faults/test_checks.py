"""The fault suite's own checks: what they measure must be able to fail.

The column check runs on rows the real persister wrote from the simulator's contracts, items
and bids: it holds there, and a single value changed in the database (two columns swapped, an
item's quantity, a bid's amount) makes it fail. The API verdict counts every answer during an
outage by status and ``Retry-After``; the report prints what the records hold, counts each
poison message once, and takes its figures from the last run of a results file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

from common.db import asyncpg_dsn
from common.esi_models import EsiBid
from common.messages import AuctionBids, BidsBatch, ContractsBatch, ContractWithItems, EsiSource
from common.settings import HangarSettings
from services.persister.main import serve
from services.persister.settings import PersisterSettings
from tests.faults import report
from tests.faults.harness import (
    ROOT,
    SEED_SWITCH,
    Outage,
    Sample,
    compare,
    judge_api,
    read_db_state,
    truth_of_rows,
)
from tests.faults.test_faults import unobserved
from tests.support.sim import Sim
from tests.support.stream import jetstream, publish

pytestmark = pytest.mark.faults

REGION = 10000002


def _messages(body: dict[str, object]) -> list[ContractsBatch | BidsBatch]:
    """What the fetcher publishes for the simulator's rows: contracts with items, and bids."""
    fetched_at = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    contracts = body["regions"][str(REGION)]  # type: ignore[index]
    batch = ContractsBatch(
        region_id=REGION,
        fetched_at=fetched_at,
        source=EsiSource(page=1, last_modified=fetched_at),
        contracts=[ContractWithItems.model_validate(c) for c in contracts],
    )
    auctions = [
        AuctionBids(
            contract_id=c["contract_id"], bids=[EsiBid.model_validate(b) for b in c["bids"]]
        )
        for c in contracts
        if c["bids"]
    ]
    bids = BidsBatch(region_id=REGION, fetched_at=fetched_at, auctions=auctions)
    return [batch, bids]


async def test_every_column_is_compared_and_one_changed_value_fails_the_check(
    settings: HangarSettings,
) -> None:
    sim = Sim.build({REGION: 60}, churn_per_generation=10)
    for _ in range(4):
        sim.world.advance()  # auctions receive bids
    body = await sim.admin("GET", "/truth/rows")
    # ESI prices may have fractions of a cent: the database keeps cents, rounded half up
    body["regions"][str(REGION)][0]["price"] = 1234.565
    truth = truth_of_rows(body)
    assert any(rows.bids for rows in truth.rows.values()), "no auction has bids to compare"
    persister = PersisterSettings.model_validate(settings.model_dump())
    async with jetstream(settings) as (_, js):
        await publish(js, settings, *_messages(body))
        await serve(persister, until_idle=True)

    connection = await asyncpg.connect(asyncpg_dsn(settings.database_url))
    try:
        clean = compare(truth, await read_db_state(connection, True), truth.listed, truth.rows)
        swapped = await connection.fetchval(
            "UPDATE contracts SET start_location_id = end_location_id,"
            " end_location_id = start_location_id"
            " WHERE contract_id = (SELECT min(contract_id) FROM contracts"
            "  WHERE start_location_id <> end_location_id) RETURNING contract_id"
        )
        quantity = await connection.fetchval(
            "UPDATE contract_items SET quantity = quantity + 1"
            " WHERE record_id = (SELECT min(record_id) FROM contract_items) RETURNING contract_id"
        )
        amount = await connection.fetchval(
            "UPDATE contract_bids SET amount = amount + 0.01"
            " WHERE bid_id = (SELECT min(bid_id) FROM contract_bids) RETURNING contract_id"
        )
        tampered = compare(truth, await read_db_state(connection, True), truth.listed, truth.rows)
    finally:
        await connection.close()

    assert clean.rows_compared
    assert clean.converged, clean.summary()
    assert swapped is not None, "no courier with two locations to swap"
    assert tampered.wrong_columns == [f"{swapped}: start_location_id, end_location_id"]
    assert tampered.wrong_items == [quantity]
    assert tampered.wrong_bids == [amount]
    assert not tampered.converged


def test_every_answer_during_an_outage_is_counted_with_its_retry_after() -> None:
    outage = Outage("postgres", began=10.0, down_at=11.0, restarting_at=20.0, up_at=21.0)
    samples = [
        Sample("list", 12.0, 12.1, 503, "unavailable", "1"),
        Sample("detail", 13.0, 13.1, 503, "unavailable", "1"),
        Sample("list", 14.0, 14.1, 503, "unavailable", None),
        Sample("list", 15.0, 15.1, 200),
        Sample("list", 16.0, 16.1, 0, "ConnectError"),
        Sample("readyz", 17.0, 17.1, 503, "", "1"),
        Sample("list", 40.0, 40.1, 200),
    ]
    verdict = judge_api(samples, [outage], 0.0, 100.0)
    assert dict(verdict.reads_during_outage) == {
        "503 with Retry-After: 1": 2,
        "503 without Retry-After": 1,
        "200 without Retry-After": 1,
        "no answer (ConnectError)": 1,
    }
    assert dict(verdict.readyz_while_down) == {"503 with Retry-After: 1": 1}
    assert verdict.reads == 6
    assert verdict.errors_during_outage == 4


def _injection(fault: str, moment: str, **values: object) -> dict[str, object]:
    row: dict[str, object] = {
        "scenario": "s", "fault": fault, "moment": moment, "detail": "d", "converged": True,
        "recovery_seconds": 1.0, "ok": True, "problems": [], "lost": 0, "duplicate_rows": 0,
        "api_duplicates": 0, "poison_sent": 0, "poison_dead_lettered": 0,
        "api_errors_during_outage": 0, "api_internal_errors_during_outage": 0,
        "stream_duplicates": 0, "abandoned_without_dead_letter_count": 0, "api_reads": 10,
        "readyz_samples": 10, "readyz_samples_while_down": 0,
    }  # fmt: skip
    return row | values


def test_the_report_prints_the_last_run_of_its_records(tmp_path: Path) -> None:
    old_run = [{"record": "run", "commit": "0ld", "seed": 1}, _injection("poison message", "x")]
    records = [
        {"record": "run", "commit": "abc1234567", "seed": 4242, "suite": "full",
         "started_at": "2026-12-03T07:00:00+00:00", "arguments": ["tests/faults"]},
        *(_injection("poison message", moment, poison_sent=sent, poison_dead_lettered=sent)
          for moment, sent in (("initial", 3), ("churn", 3), ("idle", 4))),
        _injection("PostgreSQL restart", "idle", process_restarts=["persister exited with 1"],
                   process_restarts_count=1,
                   api_reads_during_outage={"503 with Retry-After: 1": 7},
                   readyz_answers_while_down={"503 with Retry-After: 1": 5}),
        {"record": "cluster", "scenario": "kill-leader", "contracts": 4000, "missing": 0,
         "extra": 0, "wrong_items": 0, "without_items": 0, "fetcher_publishing_at_fault": True,
         "fetcher_exit": 0, "persisters_exited_on_their_own": 0, "leader_before": "n1",
         "leader_after": "n3", "election_seconds": 5.83, "catch_up_seconds": 2.01,
         "settle_seconds": 17.2, "publish_retries": 1, "notes": []},
        {"record": "replica", "scenario": "read-replica", "contracts": 4000,
         "missing_on_replica": 0, "extra_on_replica": 0, "wrong_items_on_replica": 0,
         "lag_samples": 392, "max_lag_seconds": 0.61, "catch_up_seconds": 0.23,
         "readyz_failures_during_load": 0},
        {"record": "scale-out", "contracts": 35000, "repeat": 1, "load_average": 5.1,
         "rows": [{"persisters": 1, "seconds": 10.28, "contracts_per_second": 3406.0,
                   "vs_first": 1.0, "busiest_share": 1.0}]},
        {"record": "session", "wall_seconds": 754.0, "passed": 61, "failed": 1},
    ]  # fmt: skip
    path = tmp_path / "faults.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in [*old_run, *records]))

    text = report.document(report.load(path))

    assert "$" not in text.split("## Findings")[0], "a placeholder was left unfilled"
    assert "commit abc1234567" in text
    assert "0ld" not in text
    assert "seed 4242" in text
    assert "61 passed, 1 failed" in text
    assert "wall time 12 min 34 s" in text
    assert "| poison message | 3 | 3 | 0 | 0 | 0 | 0 | 0 | 10 / 10 |" in text
    assert "poison messages sent (distinct stream messages): 10, dead-lettered: 10" in text
    assert "| 503 with Retry-After: 1 | 7 | 5 |" in text
    assert "exited on their own (restarted by the harness): 1" in text
    assert "API probe: 40 reads and 40 `/readyz` requests" in text
    assert (
        "| kill-leader | 4000 | 0 | 0 | 0 | 0 | yes | 0 | 0 | n1 → n3 | 5.8 | 2.0 | 17.2 | 1 |"
        in text
    )
    assert "| 4000 | 0 | 0 | 0 | 392 | 0.61 | 0.23 | 0 |" in text
    assert "| 1 | 10.28 | 3,406 | 1.00 | 1.00 |" in text


def _seed_of_a_run(environment: dict[str, str]) -> int:
    program = "from tests.faults.harness import RUN_SEED; print(RUN_SEED)"
    env = {k: v for k, v in os.environ.items() if k != SEED_SWITCH} | environment
    done = subprocess.run(
        [sys.executable, "-c", program],
        check=False,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    return int(done.stdout)


def test_random_delays_come_from_a_seed_that_varies_between_runs_unless_set() -> None:
    seeds = {_seed_of_a_run({}) for _ in range(3)}
    assert len(seeds) > 1, "every run drew the same delays"
    assert _seed_of_a_run({SEED_SWITCH: "4242"}) == 4242


def test_an_injection_whose_moment_never_came_fails() -> None:
    assert unobserved(True, "churn, applying", "a write transaction") == []
    assert unobserved(False, "churn, applying", "a write transaction") == [
        "churn, applying: a write transaction was not observed before the injection"
    ]


def test_the_report_says_when_a_run_was_stopped_before_its_end(tmp_path: Path) -> None:
    path = tmp_path / "faults.jsonl"
    records = [{"record": "run", "commit": "abc", "seed": 1}, _injection("poison message", "x")]
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    assert "The run was stopped before its end" in report.document(report.load(path))
