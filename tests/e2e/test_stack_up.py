"""The README's first command: ``hangar-bay up --simulate`` starts everything, serves pages
with real names within a minute, and a terminal's Ctrl-C stops everything cleanly."""

from __future__ import annotations

import html
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from services.esi_sim.universe import HUB_STATIONS
from services.stack.servers import free_port

CLI = [sys.executable, "-m", "services.cli"]
#: What the README promises: a page with real names within a minute of starting.
REAL_NAMES_WITHIN_S = 60
HUB_NAMES = {name for name, _ in HUB_STATIONS.values()}


def _named(row: dict[str, Any]) -> bool:
    """A row with a real station's name and a label from the type catalog."""
    label = row.get("primary_label") or ""
    return (
        row.get("start_location_name") in HUB_NAMES
        and bool(row.get("item_count"))
        and not label.startswith(("Unknown type", "Location ", "Structure "))
    )


def test_up_serves_contracts_and_ctrl_c_stops_everything_cleanly(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANGAR_")}
    log_path = tmp_path / "up.log"
    with log_path.open("wb") as log:
        # its own process group, as a shell gives a foreground job: Ctrl-C signals all of it
        stack = subprocess.Popen(
            [*CLI, "up", "--simulate", "--data-dir", str(tmp_path / "data"), "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        started = time.monotonic()
        try:
            named: list[dict[str, Any]] = []
            deadline = started + 120
            while not named and time.monotonic() < deadline:
                assert stack.poll() is None, log_path.read_text()[-3000:]
                try:
                    answer = httpx.get(f"http://127.0.0.1:{port}/v1/contracts?limit=100", timeout=5)
                    if answer.status_code == 200:
                        named = [row for row in answer.json()["items"] if _named(row)]
                except httpx.TransportError:
                    pass
                time.sleep(0.5)
            assert named, "the stack served no contract with real names within 120 s"
            contract = named[0]
            page = httpx.get(f"http://127.0.0.1:{port}/contracts/{contract['contract_id']}")
            assert page.status_code == 200
            for name in (contract["primary_label"], contract["start_location_name"]):
                assert html.escape(name) in page.text, name
            named_after = time.monotonic() - started
            assert named_after < REAL_NAMES_WITHIN_S, (
                f"real names showed after {named_after:.0f} s, not within a minute"
            )
            ports = dict(re.findall(r"(persister|fetcher): +http://127\.0\.0\.1:(\d+)/metrics",
                                    log_path.read_text()))  # fmt: skip
            assert ports.keys() == {"persister", "fetcher"}
            assert len(set(ports.values())) == 2  # a port each
            for name, metric in (
                ("persister", "hangar_persister_"),
                ("fetcher", "hangar_fetcher_"),
            ):
                answer = httpx.get(f"http://127.0.0.1:{ports[name]}/metrics", timeout=5)
                assert answer.status_code == 200
                assert metric in answer.text
                assert httpx.get(f"http://127.0.0.1:{ports[name]}/healthz", timeout=5).json() == {
                    "status": "ok"
                }
            os.killpg(stack.pid, signal.SIGINT)  # Ctrl-C in the terminal
            assert stack.wait(timeout=60) == 0, log_path.read_text()[-3000:]
        finally:
            if stack.poll() is None:
                os.killpg(stack.pid, signal.SIGKILL)
                stack.wait()
    output = log_path.read_text()
    assert "Traceback" not in output, output[-3000:]
    leftovers = subprocess.run(
        ["pgrep", "-f", str(tmp_path / "data")], capture_output=True, text=True, check=False
    )
    assert leftovers.stdout.strip() == "", f"still running: {leftovers.stdout}"
