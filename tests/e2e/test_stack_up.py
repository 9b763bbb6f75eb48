"""The README's first command: ``hangar-bay up --simulate`` starts everything, serves, and a
terminal's Ctrl-C stops everything cleanly."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from services.stack.servers import free_port

CLI = [sys.executable, "-m", "services.cli"]


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
        try:
            contracts: list[object] = []
            deadline = time.monotonic() + 120
            while not contracts and time.monotonic() < deadline:
                assert stack.poll() is None, log_path.read_text()[-3000:]
                try:
                    answer = httpx.get(f"http://127.0.0.1:{port}/v1/contracts?limit=5", timeout=5)
                    if answer.status_code == 200:
                        contracts = answer.json()["items"]
                except httpx.TransportError:
                    pass
                time.sleep(0.5)
            assert contracts, "the stack served no contract within 120 s"
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
