"""docs/RELIABILITY.md, generated: the prose of ``reliability.md.tmpl`` with every figure
printed here from the records of one fault-suite run (or read from the code it ran).

HANGAR_FAULT_SUITE=full uv run pytest tests/faults -q       (regenerates the document)
uv run python -m tests.faults.report faults.jsonl [--write docs/RELIABILITY.md]

A results file holds a ``run`` record (commit, seed, suite), one record per injection and a
``session`` record (outcomes, wall time); when it holds several runs, the last one is used.
"""

from __future__ import annotations

import json
import statistics
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from string import Template
from typing import Any

from common.stream import DAY, StreamLimits
from services.persister.settings import PersisterSettings
from tests.faults.harness import (
    API_RESPONSE_CACHE_S,
    BID_COLUMNS,
    CONTRACT_COLUMNS,
    FETCHER_ENV,
    ITEM_COLUMNS,
    PERSISTER_ENV,
    RECOVERY_GRACE_SECONDS,
    ApiProbe,
    StackConfig,
)

Row = dict[str, Any]
TEMPLATE = Path(__file__).resolve().parent / "reliability.md.tmpl"
#: How the report tells the deliberately broken control run from the real matrix.
BROKEN_MARK = "deliberately broken"


def load(path: Path) -> list[Row]:
    """The records of the last run in ``path``."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    starts = [index for index, row in enumerate(rows) if row.get("record") == "run"]
    return rows[starts[-1] :] if starts else rows


def injections(rows: list[Row]) -> list[Row]:
    return [row for row in rows if "record" not in row]


def _seconds(values: Iterable[float | None]) -> str:
    known = [v for v in values if v is not None]
    if not known:
        return "never"
    return f"{statistics.median(known):.1f} / {max(known):.1f}"


def _count(rows: list[Row], key: str) -> int:
    """The length of list ``key`` over ``rows`` (lists are cut to 20 in the file)."""
    return sum(int(row.get(f"{key}_count", len(row.get(key) or []))) for row in rows)


def _answers(rows: list[Row], key: str) -> Counter[str]:
    total: Counter[str] = Counter()
    for row in rows:
        total.update(row.get(key) or {})
    return total


def _outage_errors(rows: list[Row]) -> str:
    errors = sum(row["api_errors_during_outage"] for row in rows)
    internal = sum(row["api_internal_errors_during_outage"] for row in rows)
    return f"{errors} ({internal} of them 500)" if internal else str(errors)


def _columns_wrong(rows: list[Row]) -> int:
    return sum(
        _count([row], "wrong_columns") + _count([row], "wrong_items") + _count([row], "wrong_bids")
        for row in rows
    )


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    """A Markdown table: the header line, its rule, a line per row."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines.extend("| " + " | ".join(str(cell) for cell in row) + " |" for row in rows)
    return lines


def _yes_no(value: object) -> str:
    return "yes" if value else "no"


def matrix(rows: list[Row]) -> list[str]:
    """One line per fault: injections and the measured invariants."""
    faults: dict[str, list[Row]] = {}
    for row in rows:
        faults.setdefault(row["fault"], []).append(row)
    header = (
        "Fault", "Injected", "Recovered", "Lost contracts", "Partial", "Wrong columns",
        "Duplicate rows", "Gone but listed", "Poison dead-lettered / sent (distinct)",
        "/readyz wrong", "5xx, deps up", "5xx, PostgreSQL down", "Exited on their own",
        "Recovery p50 / max (s)",
    )  # fmt: skip

    def line(fault: str, group: list[Row]) -> list[object]:
        poison_sent = sum(row["poison_sent"] for row in group)
        poison = (
            "n/a"
            if not poison_sent
            else f"{sum(row['poison_dead_lettered'] for row in group)} / {poison_sent}"
        )
        return [
            fault,
            len(group),
            sum(1 for row in group if row["converged"]),
            _count(group, "missing"),
            _count(group, "partial"),
            _columns_wrong(group),
            sum(row["duplicate_rows"] + row["api_duplicates"] for row in group),
            _count(group, "gone_but_listed"),
            poison,
            _count(group, "false_ready") + _count(group, "false_unready"),
            _count(group, "api_errors_outside_outage"),
            _outage_errors(group),
            _count(group, "process_restarts"),
            _seconds(row["recovery_seconds"] for row in group),
        ]

    return markdown_table(header, (line(fault, group) for fault, group in faults.items()))


def details(rows: list[Row]) -> list[str]:
    """One line per injection."""
    header = (
        "Fault", "Moment", "What happened", "Recovery (s)", "Lost", "Wrong columns",
        "Stream duplicates", "Abandoned by JetStream", "Verdict",
    )  # fmt: skip

    def line(row: Row) -> list[object]:
        recovery = row["recovery_seconds"]
        return [
            row["fault"],
            row["moment"],
            row["detail"][:70],
            recovery if recovery is not None else "never",
            row["lost"],
            _columns_wrong([row]),
            row["stream_duplicates"],
            row["abandoned_without_dead_letter_count"],
            "ok" if row["ok"] else "FAILED: " + "; ".join(row["problems"])[:160],
        ]

    return markdown_table(header, (line(row) for row in rows))


def totals(rows: list[Row]) -> list[str]:
    recovered = [r["recovery_seconds"] for r in rows if r["recovery_seconds"] is not None]
    readyz_down = sum(r["readyz_samples_while_down"] for r in rows)
    return [
        f"- faults injected: {len(rows)} ({len({r['fault'] for r in rows})} kinds, "
        f"{len({r['scenario'] for r in rows})} scenarios)",
        f"- injections whose checks all held: {sum(1 for r in rows if r['ok'])}",
        f"- injections that recovered: {len(recovered)}",
        f"- contracts lost (missing or partial): {sum(r['lost'] for r in rows)}",
        f"- contracts, items or bids differing from ESI in some column: {_columns_wrong(rows)}",
        f"- duplicate rows: {sum(r['duplicate_rows'] for r in rows)}",
        f"- poison messages sent (distinct stream messages): "
        f"{sum(r['poison_sent'] for r in rows)}, dead-lettered: "
        f"{sum(r['poison_dead_lettered'] for r in rows)}",
        f"- processes that exited on their own (restarted by the harness): "
        f"{_count(rows, 'process_restarts')}, of them not expected by their scenario: "
        f"{_count(rows, 'unexpected_exits')}",
        f"- API probe: {sum(r['api_reads'] for r in rows)} reads and "
        f"{sum(r['readyz_samples'] for r in rows)} `/readyz` requests, "
        f"{readyz_down} of them while PostgreSQL was surely down",
        f"- `/readyz` wrong: {_count(rows, 'false_ready')} times ready while PostgreSQL was "
        f"down, {_count(rows, 'false_unready')} times not ready while everything was up",
        f"- recovery time p50 / max: {_seconds(recovered)} s",
    ]


def outage_answers(rows: list[Row]) -> list[str]:
    """Every API answer while PostgreSQL was down, by status and ``Retry-After``."""
    reads = _answers(rows, "api_reads_during_outage")
    readyz = _answers(rows, "readyz_answers_while_down")
    if not reads and not readyz:
        return ["No API answer fell in a PostgreSQL outage in this run."]
    return [
        "API answers while PostgreSQL was down (from stop requested until "
        f"{RECOVERY_GRACE_SECONDS:g} s after it was back, for reads; surely down, for "
        "`/readyz`), by status and `Retry-After` header:",
        "",
        *markdown_table(
            ("Answer", "Reads (`/v1/contracts…`)", "`/readyz`"),
            (
                (answer, reads.get(answer, 0), readyz.get(answer, 0))
                for answer in sorted(set(reads) | set(readyz))
            ),
        ),
    ]


def control(rows: list[Row]) -> list[str]:
    """The deliberately broken run: the checker must have failed it."""
    if not rows:
        return ["- (the control test did not run in this run)"]
    return [
        f"- {row['fault']} / {row['moment']}: checker verdict "
        f"{'ok (the suite MISSED it)' if row['ok'] else 'FAILED, as it must'}; "
        f"{row['missing_count']} contracts missing; " + "; ".join(row["problems"])[:200]
        for row in rows
    ]


def run_line(rows: list[Row]) -> str:
    run = next((row for row in rows if row.get("record") == "run"), {})
    session = next((row for row in rows if row.get("record") == "session"), {})
    commit = run.get("commit") or "unknown"
    if run.get("uncommitted_changes"):
        commit += " with uncommitted changes"
    wall = session.get("wall_seconds")
    duration = "unknown" if wall is None else f"{int(wall // 60)} min {wall % 60:.0f} s"
    outcome = ", ".join(
        f"{session[key]} {key}"
        for key in ("passed", "failed", "errors", "xfailed", "xpassed", "skipped")
        if session.get(key)
    )
    if not session:
        return (
            f"Run started {run.get('started_at', 'at an unknown time')} on commit {commit}, "
            f"suite `{run.get('suite', 'unknown')}`, seed {run.get('seed', 'unknown')} "
            f"(`HANGAR_FAULT_SEED`), arguments `{' '.join(run.get('arguments', []))}`. "
            "**The run was stopped before its end** (its records hold no session outcome): "
            "the figures below cover only the injections it recorded, and the scenarios that "
            "did not run are absent. Recovery is measured from the end of the fault, with the "
            "harness's short timings."
        )
    return (
        f"Run started {run.get('started_at', 'at an unknown time')} on commit {commit}, "
        f"suite `{run.get('suite', 'unknown')}`, seed {run.get('seed', 'unknown')} "
        f"(`HANGAR_FAULT_SEED`), arguments `{' '.join(run.get('arguments', []))}`: "
        f"{outcome or 'no outcome recorded'}; wall time {duration} (machine shared with other "
        "work). Recovery is measured from the end of the fault, with the harness's short "
        "timings."
    )


def _default(name: str) -> str:
    field = PersisterSettings.model_fields.get(name)
    return "unset" if field is None else f"{field.get_default():g}"


def timings() -> list[str]:
    persister = [
        ("ack_wait (s)", "HANGAR_ACK_WAIT_SECONDS", "ack_wait_seconds"),
        ("retry delay (s)", "HANGAR_RETRY_DELAY_SECONDS", "retry_delay_seconds"),
        ("max_deliver (persister's own count)", "HANGAR_MAX_DELIVER", "max_deliver"),
    ]
    settings: list[tuple[object, ...]] = [
        (f"persister {label}", PERSISTER_ENV.get(variable, "-"), _default(name))
        for label, variable, name in persister
    ]
    settings.extend(
        (f"fetcher `{variable}`", value, "(see FetcherSettings)")
        for variable, value in FETCHER_ENV.items()
        if variable != "HANGAR_CONTACT"
    )
    cache = f"{API_RESPONSE_CACHE_S:g}"
    settings.append(("API response cache (s)", cache, cache))
    return markdown_table(("Setting", "In the harness", "Default"), settings)


def _optional(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def cluster(rows: list[Row]) -> list[str]:
    """The 3-node NATS cluster scenarios (``test_cluster.py``), one line each."""
    scenarios = [row for row in rows if row.get("record") == "cluster"]
    if not scenarios:
        return ["No cluster scenario ran in this run."]
    header = (
        "scenario", "contracts", "missing", "extra", "wrong items", "without items",
        "fetcher publishing at the fault", "fetcher exit", "persisters exited on their own",
        "leader before → after", "new leader (s)", "restarted node current (s)",
        "database equal to the truth after (s)", "publish retries",
    )  # fmt: skip
    return markdown_table(
        header,
        (
            [
                row["scenario"],
                row["contracts"],
                row["missing"],
                row["extra"],
                row["wrong_items"],
                row["without_items"],
                _yes_no(row["fetcher_publishing_at_fault"]),
                row["fetcher_exit"],
                row["persisters_exited_on_their_own"],
                f"{row['leader_before']} → {row['leader_after']}",
                _optional(row["election_seconds"]),
                _optional(row["catch_up_seconds"]),
                _optional(row["settle_seconds"]),
                row["publish_retries"],
            ]
            for row in scenarios
        ),
    )


def replica(rows: list[Row]) -> list[str]:
    """The read-replica scenario: the lag the API reported during a first load."""
    scenarios = [row for row in rows if row.get("record") == "replica"]
    if not scenarios:
        return ["No read-replica scenario ran in this run."]
    header = (
        "contracts", "missing on the replica", "extra", "wrong items", "lag samples",
        "largest lag reported (s)", "replica equal after the primary (s)",
        "`/readyz` failures during the load",
    )  # fmt: skip
    return markdown_table(
        header,
        (
            [
                row["contracts"],
                row["missing_on_replica"],
                row["extra_on_replica"],
                row["wrong_items_on_replica"],
                row["lag_samples"],
                f"{row['max_lag_seconds']:.2f}",
                f"{row['catch_up_seconds']:.2f}",
                row["readyz_failures_during_load"],
            ]
            for row in scenarios
        ),
    )


def scale_out(rows: list[Row]) -> list[str]:
    """Persisters on one durable consumer (``benchmarks/bench_scale_out.py --results``)."""
    runs = [row for row in rows if row.get("record") == "scale-out"]
    if not runs:
        return ["No scale-out measurement was recorded with this run."]
    run = runs[-1]
    return [
        f"{run['contracts']:,} contracts, medians of {run['repeat']}, load average "
        f"{run['load_average']:.1f} at the end:",
        "",
        *markdown_table(
            ("persisters", "seconds", "contracts/s", "vs the first", "busiest share of batches"),
            (
                (
                    row["persisters"],
                    f"{row['seconds']:.2f}",
                    f"{row['contracts_per_second']:,.0f}",
                    f"{row['vs_first']:.2f}",
                    f"{row['busiest_share']:.2f}",
                )
                for row in run["rows"]
            ),
        ),
    ]


def values(rows: list[Row]) -> dict[str, str]:
    everything = injections(rows)
    real = [row for row in everything if BROKEN_MARK not in row["fault"]]
    broken = [row for row in everything if BROKEN_MARK in row["fault"]]
    config = StackConfig()
    limits = StreamLimits()
    regions = ", ".join(f"{count} in region {region}" for region, count in config.regions.items())
    return {
        "sim_world": (
            f"by default {regions}, {config.big_contracts} contract with items over several "
            f"pages and {config.churn} contracts of churn per generation (more contracts where "
            "a sweep must span two list pages)"
        ),
        "probe_interval": f"{ApiProbe('').interval:g}",
        "grace": f"{RECOVERY_GRACE_SECONDS:g}",
        "contract_columns": ", ".join(CONTRACT_COLUMNS),
        "item_columns": ", ".join(ITEM_COLUMNS),
        "bid_columns": ", ".join(BID_COLUMNS),
        "timings": "\n".join(timings()),
        "run": run_line(rows),
        "totals": "\n".join(totals(real)),
        "outage_answers": "\n".join(outage_answers(real)),
        "matrix": "\n".join(matrix(real)),
        "control": "\n".join(control(broken)),
        "details": "\n".join(details(real)),
        "cluster": "\n".join(cluster(rows)),
        "replica": "\n".join(replica(rows)),
        "scale_out": "\n".join(scale_out(rows)),
        "replicas": str(limits.replicas),
        "max_age_days": f"{limits.max_age_seconds / DAY:g}",
        "max_bytes_gib": f"{limits.max_bytes / 1024**3:g}",
        "duplicate_window_minutes": f"{limits.duplicate_window_seconds / 60:g}",
        "fetch_batch": _default("fetch_batch"),
        "ack_wait": _default("ack_wait_seconds"),
        "max_deliver": _default("max_deliver"),
        "patience": _default("missing_contract_patience_seconds"),
        "retry_delay": _default("retry_delay_seconds"),
    }


def document(rows: list[Row]) -> str:
    return Template(TEMPLATE.read_text()).substitute(values(rows))


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 4) or (len(argv) == 4 and argv[2] != "--write"):
        print(__doc__)
        return 2
    text = document(load(Path(argv[1])))
    if len(argv) == 4:
        Path(argv[3]).write_text(text)
    else:
        print(text, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
