"""Invariants of ``compose.cluster.yaml`` (its syntax is validated in CI by
``docker-compose config``, like ``compose.yaml``)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import typer.main
import yaml

from services.cli import app

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "compose.cluster.yaml"
NATS_NODES = ("nats-1", "nats-2", "nats-3")
INFRASTRUCTURE = {*NATS_NODES, "postgres", "postgres-replica", "redis", "proxy"}


@pytest.fixture(scope="module")
def services() -> dict[str, dict[str, Any]]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    found: dict[str, dict[str, Any]] = document["services"]
    return found


def _flag(command: list[str], flag: str) -> str:
    return command[command.index(flag) + 1]


def test_three_nats_nodes_form_one_cluster(services: dict[str, dict[str, Any]]) -> None:
    for node in NATS_NODES:
        command = services[node]["command"]
        assert _flag(command, "--name") == node
        assert _flag(command, "--cluster_name") == "hangar"
        routes = {
            route.split("//")[1].split(":")[0] for route in _flag(command, "--routes").split(",")
        }
        assert routes == set(NATS_NODES) - {node}
        assert "-js" in command
        assert _flag(command, "--sync_interval") == "always"
        assert any(volume.endswith(":/data") for volume in services[node]["volumes"])


def test_hangar_processes_use_every_node_and_three_replicas(
    services: dict[str, dict[str, Any]],
) -> None:
    hangar = {name: s for name, s in services.items() if name not in INFRASTRUCTURE}
    assert {"persister-1", "persister-2", "api-1", "api-2", "fetcher", "migrate"} <= set(hangar)
    for name, service in hangar.items():
        environment = service["environment"]
        urls = environment["HANGAR_NATS_URL"].split(",")
        assert {url.split("//")[1].split(":")[0] for url in urls} == set(NATS_NODES), name
        assert environment["HANGAR_STREAM_REPLICAS"] == "3", name


def test_the_api_reads_the_replica_behind_a_proxy(services: dict[str, dict[str, Any]]) -> None:
    for name in ("api-1", "api-2"):
        environment = services[name]["environment"]
        assert "@postgres-replica:" in environment["HANGAR_DATABASE_READ_URL"]
        assert "@postgres:" in environment["HANGAR_DATABASE_URL"]
        assert services[name]["depends_on"]["postgres-replica"]["condition"] == "service_healthy"
    caddyfile = (ROOT / "deploy" / "Caddyfile").read_text()
    assert re.search(r"reverse_proxy\s+api-1:8000\s+api-2:8000", caddyfile)
    assert "health_uri /readyz" in caddyfile
    proxy = services["proxy"]
    assert {dep for dep, spec in proxy["depends_on"].items()} == {"api-1", "api-2"}
    assert any("deploy/Caddyfile" in volume for volume in proxy["volumes"])


def test_the_replica_is_cloned_from_the_primary_with_replication_set_up(
    services: dict[str, dict[str, Any]],
) -> None:
    script = "\n".join(services["postgres-replica"]["entrypoint"])
    assert "pg_basebackup -h postgres" in script
    assert " -R " in script
    init = next(v for v in services["postgres"]["volumes"] if "initdb.d" in v)
    init_script = ROOT / init.split(":")[0].removeprefix("./")
    assert "REPLICATION" in init_script.read_text()
    assert "host replication replicator" in init_script.read_text()


def test_every_service_is_pinned_healthy_and_waits_for_health(
    services: dict[str, dict[str, Any]],
) -> None:
    commands = set(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
    for name, service in services.items():
        assert re.search(
            r":(\d+\.\d+(\.\d+)?[\w.-]*|\$\{HANGAR_VERSION:-[\d.]+\})$", service["image"]
        )
        if name == "migrate":
            assert service["restart"] == "no"
        else:
            assert "healthcheck" in service, name
        for dependency, spec in service.get("depends_on", {}).items():
            expected = (
                "service_completed_successfully" if dependency == "migrate" else "service_healthy"
            )
            assert spec["condition"] == expected, f"{name} -> {dependency}"
        if name not in INFRASTRUCTURE:
            assert service["command"][0] in commands, name


def test_no_default_secrets() -> None:
    text = COMPOSE.read_text()
    for secret in ("POSTGRES_PASSWORD", "POSTGRES_REPLICATION_PASSWORD", "HANGAR_CURSOR_SECRET"):
        uses = re.findall(r"\$\{" + secret + r"([^}]*)\}", text)
        assert uses, f"{secret} is not used"
        assert all(use.startswith(":?") for use in uses), f"{secret} has a default"
