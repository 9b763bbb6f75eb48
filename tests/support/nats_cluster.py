"""A JetStream cluster of real ``nats-server`` processes (the pinned wheel's), on loopback.

Each node has its own client, cluster-route and monitoring port and its own store; a node can
be killed and restarted on the same ports and data, as an operator's would be. The monitoring
endpoint ``/jsz?streams=true`` tells which node leads a stream and how far each replica is.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from services.stack.servers import (
    NATS_MAX_PAYLOAD,
    free_port,
    nats_server_binary,
    wait_for_port,
)

CLUSTER_NAME = "hangar-test"


@dataclass
class NatsNode:
    name: str
    client_port: int
    cluster_port: int
    monitor_port: int
    data_dir: Path
    routes: list[str]
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.client_port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = self.data_dir / "nats.conf"
        routes = ",".join(f'"{route}"' for route in self.routes)
        config.write_text(
            f'server_name: "{self.name}"\nhost: 127.0.0.1\nport: {self.client_port}\n'
            f"http_port: {self.monitor_port}\nmax_payload: {NATS_MAX_PAYLOAD}\n"
            f'jetstream {{\n  store_dir: "{self.data_dir / "jetstream"}"\n'
            f"  sync_interval: always\n}}\n"
            f'cluster {{\n  name: "{CLUSTER_NAME}"\n  host: 127.0.0.1\n'
            f"  port: {self.cluster_port}\n  routes: [{routes}]\n}}\n"
        )
        with (self.data_dir / "nats.log").open("ab") as log:
            self.process = subprocess.Popen(
                [nats_server_binary(), "-c", str(config)], stdout=log, stderr=subprocess.STDOUT
            )
        wait_for_port(self.client_port, self.process, self.name, timeout=20)

    def kill(self) -> None:
        """SIGKILL: no goodbye to the cluster, as a crashed machine."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def jsz(self) -> dict[str, Any]:
        response = httpx.get(
            f"http://127.0.0.1:{self.monitor_port}/jsz",
            params={"streams": "true", "consumers": "true"},
            timeout=5,
        )
        response.raise_for_status()
        answer: dict[str, Any] = response.json()
        return answer


@dataclass
class NatsCluster:
    nodes: list[NatsNode]

    @property
    def urls(self) -> str:
        """Every node, as clients are given them (``HANGAR_NATS_URL``)."""
        return ",".join(node.url for node in self.nodes)

    def node(self, name: str) -> NatsNode:
        return next(node for node in self.nodes if node.name == name)

    def stream_state(self, stream: str) -> dict[str, Any] | None:
        """The stream's cluster view (leader, replicas) as its leader reports it; a follower's
        view of its peers can be stale, so it is used only while no leader answers."""
        fallback: dict[str, Any] | None = None
        for node in self.nodes:
            if not node.running:
                continue
            with contextlib.suppress(httpx.HTTPError):
                for account in node.jsz().get("account_details", []):
                    for detail in account.get("stream_detail", []):
                        if detail.get("name") != stream:
                            continue
                        if detail.get("cluster", {}).get("leader") == node.name:
                            found: dict[str, Any] = detail
                            return found
                        fallback = detail
        return fallback

    def leader_of(self, stream: str) -> str | None:
        state = self.stream_state(stream)
        if state is None:
            return None
        leader = state.get("cluster", {}).get("leader")
        return str(leader) if leader else None

    def wait_for_leader(
        self, stream: str, *, timeout: float = 60, not_on: str | None = None
    ) -> str:
        """The stream's leader once one is elected on a running node (other than ``not_on``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            leader = self.leader_of(stream)
            if leader and leader != not_on and self.node(leader).running:
                return leader
            time.sleep(0.1)
        raise TimeoutError(f"stream {stream} has no leader after {timeout:.0f} s")

    def replicas_current(self, stream: str) -> bool:
        """Every replica of the stream is running and caught up with its leader."""
        state = self.stream_state(stream)
        if state is None:
            return False
        replicas = state.get("cluster", {}).get("replicas") or []
        size = len(self.nodes)
        return len(replicas) == size - 1 and all(
            replica.get("current") and not replica.get("offline") for replica in replicas
        )

    def wait_until_current(self, stream: str, *, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.replicas_current(stream):
                return
            time.sleep(0.2)
        raise TimeoutError(f"stream {stream}'s replicas did not catch up in {timeout:.0f} s")

    def wait_for_jetstream(self, *, timeout: float = 60) -> None:
        """Until the cluster has a JetStream meta leader (streams can be created)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for node in self.nodes:
                with contextlib.suppress(httpx.HTTPError):
                    meta = node.jsz().get("meta_cluster", {})
                    if (
                        meta.get("leader")
                        and len(meta.get("replicas") or []) == len(self.nodes) - 1
                    ):
                        return
            time.sleep(0.2)
        raise TimeoutError(f"no JetStream meta leader after {timeout:.0f} s")

    def close(self) -> None:
        for node in self.nodes:
            node.stop()


@contextlib.contextmanager
def nats_cluster(
    work_dir: Path, size: int = 3, *, started: int | None = None
) -> Iterator[NatsCluster]:
    """A cluster of ``size`` nodes; with ``started``, only that many are started (the test
    starts the others), and JetStream is not awaited."""
    ports = [(free_port(), free_port(), free_port()) for _ in range(size)]
    routes = [f"nats-route://127.0.0.1:{cluster}" for _, cluster, _ in ports]
    nodes = [
        NatsNode(
            name=f"n{index + 1}",
            client_port=client,
            cluster_port=cluster,
            monitor_port=monitor,
            data_dir=work_dir / f"n{index + 1}",
            routes=[route for position, route in enumerate(routes) if position != index],
        )
        for index, (client, cluster, monitor) in enumerate(ports)
    ]
    cluster = NatsCluster(nodes)
    try:
        for node in nodes[: size if started is None else started]:
            node.start()
        if started is None:
            cluster.wait_for_jetstream()
        yield cluster
    finally:
        cluster.close()
