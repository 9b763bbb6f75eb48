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
from collections.abc import Callable
from pathlib import Path

from common.settings import HangarSettings
from services.stack.first_minutes import FirstSweepProgress, banner, expected_regions, wait_for_api
from services.stack.servers import (
    ServerStartError,
    free_port,
    start_nats,
    start_postgres,
    start_redis,
    wait_for_port,
)

log = logging.getLogger(__name__)

CLI = [sys.executable, "-m", "services.cli"]
SIMULATED_REGIONS = "10000002:3000,10000043:1000,10000032:800"
DEFAULT_METRICS_PORT = 9101


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
        metrics_ports = _metrics_ports(settings, ("persister", "fetcher"))
        for name, command in (
            ("persister", ["persister"]),
            ("notifier", ["notifier"]),
            ("fetcher", ["fetcher"]),
            ("api", ["api", "--host", api_host, "--port", str(api_port)]),
        ):
            own_env = env
            if name in metrics_ports:
                own_env = {**env, "HANGAR_METRICS_PORT": str(metrics_ports[name])}
            processes.append((name, subprocess.Popen([*CLI, *command], env=own_env)))  # noqa: S603
        api_url = f"http://{api_host}:{api_port}"
        source = "the ESI simulator" if simulate else env.get("HANGAR_ESI_BASE_URL", "ESI")
        if not wait_for_api(api_url, processes[-1][1]):
            log.error("the API did not answer at %s: stopping the stack", api_url)
            _stop(processes)
            return 1
        metrics_lines = "".join(
            f"  {name + ':':<11}http://127.0.0.1:{port}/metrics (and /healthz)\n"
            for name, port in metrics_ports.items()
        )
        print(
            banner(
                api_url,
                source,
                str(data_dir),
                f"  metrics:   {api_url}/metrics (API)\n{metrics_lines}",
            ),
            flush=True,
        )
        progress = FirstSweepProgress(
            api_url,
            expected_regions(env.get("HANGAR_REGIONS", "")),
            lambda line: print(line, flush=True),
        )
        return _supervise(processes, progress.poll)
    return 0


def _metrics_ports(settings: HangarSettings, names: tuple[str, ...]) -> dict[str, int]:
    """A port of its own for each worker's /metrics and /healthz: from HANGAR_METRICS_PORT
    upwards when it is set, else from 9101, each moved to a free port if taken."""
    first = settings.metrics_port or DEFAULT_METRICS_PORT
    ports: dict[str, int] = {}
    for offset, name in enumerate(names):
        port = _port_or_free(first + offset)
        while port in ports.values():
            port = free_port()
        ports[name] = port
    return ports


def _port_or_free(preferred: int) -> int:
    import socket  # noqa: PLC0415

    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", preferred))
        except OSError:
            return free_port()
    return preferred


def _supervise(
    processes: list[tuple[str, subprocess.Popen[bytes]]], on_tick: Callable[[], None] = lambda: None
) -> int:
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
            if not stopping:
                on_tick()
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
