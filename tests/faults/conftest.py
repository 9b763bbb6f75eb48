"""The fault suite's run records: the seed in the header, the run and its outcome in the results
file, and, after a whole full run, ``docs/RELIABILITY.md`` generated from that file."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.faults import report
from tests.faults.harness import RESULTS_SWITCH, ROOT, RUN_SEED, SEED_SWITCH, full_suite

RELIABILITY = ROOT / "docs" / "RELIABILITY.md"
_started = time.monotonic()


def pytest_report_header() -> str:
    return f"fault suite seed: {RUN_SEED} (repeat with {SEED_SWITCH}={RUN_SEED})"


def _git(*args: str) -> str:
    try:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def _append(record: dict[str, object]) -> None:
    target = os.environ.get(RESULTS_SWITCH)
    if target:
        with Path(target).open("a") as out:
            out.write(json.dumps(record) + "\n")


def _whole_suite(config: pytest.Config) -> bool:
    """A full run of every fault test: only such a run may regenerate the document."""
    chosen = [Path(str(arg).split("::", 1)[0]).resolve() for arg in config.args]
    faults_dir = Path(__file__).resolve().parent
    return (
        full_suite()
        and not config.getoption("keyword")
        and not config.getoption("markexpr")
        and faults_dir in chosen
        and not config.getoption("maxfail", 0)
        and not config.getoption("collectonly")
    )


def pytest_configure(config: pytest.Config) -> None:
    if _whole_suite(config) and not os.environ.get(RESULTS_SWITCH):
        handle, path = tempfile.mkstemp(prefix="hangar-faults-", suffix=".jsonl")
        os.close(handle)
        os.environ[RESULTS_SWITCH] = path
    _append(
        {
            "record": "run",
            "commit": _git("rev-parse", "--short=10", "HEAD"),
            "uncommitted_changes": bool(_git("status", "--porcelain", "--untracked-files=no")),
            "seed": RUN_SEED,
            "suite": "full" if full_suite() else "subset",
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "arguments": [str(arg) for arg in config.args],
        }
    )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    stats = getattr(reporter, "stats", {})
    outcomes = {
        outcome: sum(
            1
            for entry in stats.get(outcome, [])
            if outcome == "skipped" or getattr(entry, "when", "") == "call"
        )
        for outcome in ("passed", "failed", "xfailed", "xpassed", "skipped")
    }
    outcomes["errors"] = len(stats.get("error", []))
    _append(
        {
            "record": "session",
            "wall_seconds": round(time.monotonic() - _started, 1),
            "exit_status": int(exitstatus),
            **outcomes,
        }
    )
    target = os.environ.get(RESULTS_SWITCH)
    if target and _whole_suite(session.config):
        records = report.load(Path(target))
        if not report.injections(records):
            return
        RELIABILITY.write_text(report.document(records))
        print(f"\n{RELIABILITY} regenerated from {target}")
