"""``ApiSettings`` from the environment and its defaults."""

from __future__ import annotations

import pytest

from services.api.settings import ApiSettings


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HANGAR_API_HOST", "0.0.0.0")
    monkeypatch.setenv("HANGAR_API_PORT", "8081")
    monkeypatch.setenv("HANGAR_CORS_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("HANGAR_CURSOR_SECRET", "a-shared-secret-for-all-replicas")
    settings = ApiSettings()
    assert (settings.api_host, settings.api_port) == ("0.0.0.0", 8081)
    assert settings.cors_origins == ["https://a.example", "https://b.example"]
    assert settings.cursor_secret.get_secret_value() == "a-shared-secret-for-all-replicas"
    assert "a-shared-secret" not in repr(settings)


def test_settings_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HANGAR_API_HOST", "HANGAR_API_PORT", "HANGAR_CORS_ORIGINS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("HANGAR_CURSOR_SECRET", raising=False)
    first, second = ApiSettings(), ApiSettings()
    assert (first.api_host, first.api_port, first.cors_origins) == ("127.0.0.1", 8000, [])
    assert (first.statement_timeout_ms, first.count_exact_threshold) == (5000, 10_000)
    # The default cursor secret is random per process (documented: set it in production).
    assert first.cursor_secret.get_secret_value() != second.cursor_secret.get_secret_value()
