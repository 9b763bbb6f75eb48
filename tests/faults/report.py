"""Render the fault matrix of docs/RELIABILITY.md from a results file.

HANGAR_FAULT_SUITE=full HANGAR_FAULT_RESULTS=faults.jsonl uv run pytest tests/faults
uv run python -m tests.faults.report faults.jsonl
"""

from __future__ import annotations

import json
import statistics
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

Row = dict[str, Any]


def load(path: Path) -> list[Row]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _seconds(values: Iterable[float | None]) -> str:
    known = [v for v in values if v is not None]
    if not known:
        return "never"
    return f"{statistics.median(known):.1f} / {max(known):.1f}"


def _count(rows: list[Row], key: str) -> int:
    """The length of list ``key`` over ``rows`` (lists are cut to 20 in the file)."""
    return sum(int(row.get(f"{key}_count", len(row.get(key) or []))) for row in rows)


def _outage_errors(rows: list[Row]) -> str:
    errors = sum(row["api_errors_during_outage"] for row in rows)
    internal = sum(row["api_internal_errors_during_outage"] for row in rows)
    return f"{errors} ({internal} of them 500)" if internal else str(errors)


def matrix(rows: list[Row]) -> list[str]:
    """One line per fault: injections and the measured invariants."""
    faults: dict[str, list[Row]] = {}
    for row in rows:
        faults.setdefault(row["fault"], []).append(row)
    lines = [
        "| Fault | Injected | Recovered | Lost contracts | Partial | Duplicate rows "
        "| Gone but listed | Poison dead-lettered | /readyz wrong | 5xx, deps up "
        "| 5xx, PostgreSQL down | Recovery p50 / max (s) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for fault, group in faults.items():
        poison_sent = sum(row["poison_sent"] for row in group)
        poison = (
            "n/a"
            if not poison_sent
            else f"{sum(row['poison_dead_lettered'] for row in group)} / {poison_sent}"
        )
        lines.append(
            f"| {fault} | {len(group)} | {sum(1 for row in group if row['converged'])} "
            f"| {_count(group, 'missing')} "
            f"| {_count(group, 'partial')} "
            f"| {sum(row['duplicate_rows'] + row['api_duplicates'] for row in group)} "
            f"| {_count(group, 'gone_but_listed')} | {poison} "
            f"| {_count(group, 'false_ready') + _count(group, 'false_unready')} "
            f"| {_count(group, 'api_errors_outside_outage')} "
            f"| {_outage_errors(group)} "
            f"| {_seconds(row['recovery_seconds'] for row in group)} |"
        )
    return lines


def details(rows: list[Row]) -> list[str]:
    """One line per injection."""
    lines = [
        "| Fault | Moment | What happened | Recovery (s) | Lost | Stream duplicates "
        "| Abandoned by JetStream | Verdict |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        verdict = "ok" if row["ok"] else "FAILED: " + "; ".join(row["problems"])[:160]
        lines.append(
            f"| {row['fault']} | {row['moment']} | {row['detail'][:70]} "
            f"| {row['recovery_seconds'] if row['recovery_seconds'] is not None else 'never'} "
            f"| {row['lost']} | {row['stream_duplicates']} "
            f"| {row['abandoned_without_dead_letter_count']} | {verdict} |"
        )
    return lines


def totals(rows: list[Row]) -> list[str]:
    recovered = [r["recovery_seconds"] for r in rows if r["recovery_seconds"] is not None]
    return [
        f"- faults injected: {len(rows)} ({len({r['fault'] for r in rows})} kinds)",
        f"- injections that recovered: {len(recovered)}",
        f"- contracts lost (missing or partial): {sum(r['lost'] for r in rows)}",
        f"- duplicate rows: {sum(r['duplicate_rows'] for r in rows)}",
        f"- recovery time p50 / max: {_seconds(recovered)} s",
    ]


def control(rows: list[Row]) -> list[str]:
    """The deliberately broken run: the checker must have failed it."""
    return [
        f"- {row['fault']} / {row['moment']}: checker verdict "
        f"{'ok (the suite MISSED it)' if row['ok'] else 'FAILED, as it must'}; "
        f"{row['missing_count']} contracts missing; " + "; ".join(row["problems"])[:200]
        for row in rows
    ]


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__)
        return 2
    everything = load(Path(argv[1]))
    rows = [row for row in everything if "deliberately broken" not in row["fault"]]
    broken = [row for row in everything if "deliberately broken" in row["fault"]]
    sections = [*totals(rows), "", *matrix(rows), "", *details(rows), "", *control(broken)]
    for line in sections:
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
