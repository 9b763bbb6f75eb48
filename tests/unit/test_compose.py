"""Invariants of the production compose file (its syntax is validated in CI by
``docker-compose config``; no Docker engine is needed for either)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import typer.main
import yaml

from services.cli import app

COMPOSE = Path(__file__).resolve().parents[2] / "compose.yaml"
INFRASTRUCTURE = {"nats", "postgres", "redis"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return document


def _services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = compose["services"]
    return services


def test_images_are_pinned_to_a_release(compose: dict[str, Any]) -> None:
    for name, service in _services(compose).items():
        image = service["image"]
        pinned = r"^[\w./-]+:(\d+\.\d+(\.\d+)?[\w.-]*|\$\{HANGAR_VERSION:-\d+\.\d+\.\d+\})$"
        assert re.match(pinned, image), f"{name}: {image} is not pinned to a release"


def test_nats_is_a_current_release_with_durable_settings(compose: dict[str, Any]) -> None:
    nats = _services(compose)["nats"]
    version = tuple(int(p) for p in re.findall(r":(\d+)\.(\d+)\.(\d+)", nats["image"])[0])
    assert version >= (2, 10, 23)
    command = " ".join(nats["command"])
    assert "-js" in command
    assert "--max_payload 8MB" in command
    assert "--sync_interval always" in command
    assert any(v.endswith(":/data") for v in nats["volumes"])


def test_every_long_running_service_has_a_health_check(compose: dict[str, Any]) -> None:
    for name, service in _services(compose).items():
        if name == "migrate":
            assert service["restart"] == "no"
            continue
        assert "healthcheck" in service, f"{name} has no health check"
        assert service["restart"] == "unless-stopped"


def test_services_wait_for_healthy_dependencies_and_the_migration(compose: dict[str, Any]) -> None:
    for name, service in _services(compose).items():
        if name in INFRASTRUCTURE:
            continue
        conditions = {dep: spec["condition"] for dep, spec in service["depends_on"].items()}
        assert conditions["postgres"] == "service_healthy"
        if name != "migrate":
            assert conditions["migrate"] == "service_completed_successfully"
            assert conditions["nats"] == "service_healthy"


def test_no_default_secrets() -> None:
    text = COMPOSE.read_text()
    for secret in ("POSTGRES_PASSWORD", "HANGAR_CURSOR_SECRET"):
        uses = re.findall(r"\$\{" + secret + r"([^}]*)\}", text)
        assert uses, f"{secret} is not used"
        assert all(use.startswith(":?") for use in uses), f"{secret} has a default"


def test_every_service_command_exists_in_the_cli(compose: dict[str, Any]) -> None:
    commands = set(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
    for name, service in _services(compose).items():
        if name in INFRASTRUCTURE:
            continue
        assert service["command"][0] in commands, f"{name} runs an unknown command"
