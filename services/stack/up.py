"""``hangar-bay up``: the whole stack on one machine.

Uses the servers whose URLs are configured (``HANGAR_DATABASE_URL``, ``HANGAR_NATS_URL``,
``HANGAR_REDIS_URL``) and starts embedded ones for the others, with their data under the data
directory so that it persists between runs. Then migrates and runs the fetcher, the persister
and the API (and, with ``--simulate``, the ESI simulator) as child processes, each a
``hangar-bay`` command; Ctrl-C stops them all.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from common.embedded_servers import (
    ServerStartError,
    free_port,
    start_nats,
    start_postgres,
    start_redis,
    wait_for_port,
)
from common.settings import HangarSettings

log = logging.getLogger(__name__)

CLI = [sys.executable, "-m", "services.cli"]
SIMULATED_REGIONS = "10000002:3000,10000043:1000,10000032:800"


def _configured(settings: HangarSettings, field: str) -> bool:
    return field in settings.model_fields_set


def run_stack(
    settings: HangarSettings,
    *,
    data_dir: Path,
    simulate: bool,
    api_host: str,
    api_port: int,
    sim_port: int,
) -> int:
    data_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    processes: list[tuple[str, subprocess.Popen[bytes]]] = []
    with contextlib.ExitStack() as stack:
        try:
            if not _configured(settings, "database_url"):
                postgres = start_postgres(data_dir / "postgres", database="hangar_bay")
                stack.callback(postgres.close)
                env["HANGAR_DATABASE_URL"] = postgres.url
            if not _configured(settings, "nats_url"):
                nats = start_nats(data_dir / "nats", port=_port_or_free(4222), own_session=True)
                stack.callback(nats.close)
                env["HANGAR_NATS_URL"] = nats.url
            if not _configured(settings, "redis_url"):
                redis = start_redis(data_dir / "redis", port=_port_or_free(6379), own_session=True)
                stack.callback(redis.close)
                env["HANGAR_REDIS_URL"] = redis.url
        except ServerStartError as error:
            log.error("cannot start the stack: %s", error)
            return 1
        if simulate:
            port = sim_port or free_port()
            sim = subprocess.Popen(  # noqa: S603
                [*CLI, "esi-sim", "--port", str(port), "--regions", SIMULATED_REGIONS,
                 "--cache-seconds", "120"], env=env,
            )  # fmt: skip
            processes.append(("esi-sim", sim))
            wait_for_port(port, sim, "esi-sim", timeout=30)
            env["HANGAR_ESI_BASE_URL"] = f"http://127.0.0.1:{port}"
            env.setdefault(
                "HANGAR_REGIONS", ",".join(r.split(":")[0] for r in SIMULATED_REGIONS.split(","))
            )
        migrated = subprocess.run([*CLI, "migrate"], env=env, check=False)  # noqa: S603
        if migrated.returncode != 0:
            _stop(processes)
            return migrated.returncode
        for name, command in (
            ("persister", ["persister"]),
            ("notifier", ["notifier"]),
            ("fetcher", ["fetcher"]),
            ("api", ["api", "--host", api_host, "--port", str(api_port)]),
        ):
            processes.append((name, subprocess.Popen([*CLI, *command], env=env)))  # noqa: S603
        api_url = f"http://{api_host}:{api_port}"
        source = "the ESI simulator" if simulate else env.get("HANGAR_ESI_BASE_URL", "ESI")
        print(
            f"\nHangar Bay is up, reading {source}\n"
            f"  API:      {api_url}/v1/contracts\n  API docs: {api_url}/docs\n"
            f"  data:     {data_dir}\nPress Ctrl-C to stop.\n",
            flush=True,
        )
        return _supervise(processes)
    return 0


def _port_or_free(preferred: int) -> int:
    import socket  # noqa: PLC0415

    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", preferred))
        except OSError:
            return free_port()
    return preferred


def _supervise(processes: list[tuple[str, subprocess.Popen[bytes]]]) -> int:
    stopping = False

    def request_stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    previous = {s: signal.signal(s, request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    exit_code = 0
    try:
        while not stopping:
            for name, process in processes:
                if process.poll() is not None:
                    log.error(
                        "%s exited with code %s: stopping the stack", name, process.returncode
                    )
                    exit_code = process.returncode or 1
                    stopping = True
            time.sleep(0.5)
    finally:
        _stop(processes)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return exit_code


def _stop(processes: list[tuple[str, subprocess.Popen[bytes]]]) -> None:
    for _, process in reversed(processes):
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 30
    for _, process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
