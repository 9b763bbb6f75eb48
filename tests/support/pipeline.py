"""The pipeline's processes for end-to-end tests, each a ``hangar-bay`` command: the ESI
simulator, the fetcher run once, and long-running services (persister, notifier) whose output
goes to a log file that a failure shows."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from common.settings import HangarSettings
from services.stack.servers import free_port, wait_for_port

CLI = [sys.executable, "-m", "services.cli"]


@contextlib.contextmanager
def simulator(*options: str) -> Iterator[str]:
    """``hangar-bay esi-sim`` with these options on a free port; yields its base URL."""
    port = free_port()
    process = subprocess.Popen([*CLI, "esi-sim", "--port", str(port), *options])
    try:
        wait_for_port(port, process, "esi-sim", timeout=30)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def pipeline_environment(
    settings: HangarSettings, esi_url: str, regions: Iterable[int], **extra: str
) -> dict[str, str]:
    """The environment of the test's processes: its servers and names, the simulator as ESI."""
    return {
        **os.environ,
        "HANGAR_DATABASE_URL": settings.database_url,
        "HANGAR_NATS_URL": settings.nats_url,
        "HANGAR_REDIS_URL": settings.redis_url,
        "HANGAR_NAME_PREFIX": settings.name_prefix,
        "HANGAR_ESI_BASE_URL": esi_url,
        "HANGAR_REGIONS": ",".join(str(region) for region in regions),
        "HANGAR_LOG_JSON": "true",
        **extra,
    }


async def run_once(command: str, *args: str, env: dict[str, str]) -> None:
    """Run a command to its end in a thread: the test's event loop (an API server, a live
    feed) keeps running meanwhile."""
    result = await asyncio.to_thread(
        subprocess.run,
        [*CLI, command, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"{command} failed:\n{result.stderr[-4000:]}"


@dataclass
class Service:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            tail = self.log.read_text(errors="replace")[-4000:]
            raise AssertionError(f"{self.name} exited with {self.process.returncode}:\n{tail}")


@contextlib.contextmanager
def running(command: str, env: dict[str, str], log_dir: Path) -> Iterator[Service]:
    """``hangar-bay COMMAND`` running until the block ends (then SIGTERM: it stops gracefully)."""
    log = log_dir / f"{command}.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [*CLI, command], env=env, stdout=output, stderr=subprocess.STDOUT
        )
        try:
            yield Service(command, process, log)
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def simulator_rows(esi_url: str) -> dict[int, dict[str, Any]]:
    """contract id → the contract as the simulator lists it now (ESI's fields and its items)."""
    answer = httpx.get(f"{esi_url}/_sim/truth/rows", timeout=30).raise_for_status().json()
    return {
        contract["contract_id"]: contract
        for contracts in answer["regions"].values()
        for contract in contracts
    }


def advance_simulator(esi_url: str) -> None:
    """Start the simulator's next generation: some contracts go, new ones are issued."""
    httpx.post(f"{esi_url}/_sim/advance", timeout=30).raise_for_status()
