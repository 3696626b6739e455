"""The one settings object: read from the environment, validated at start with sentences."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from selfheal.core.config import (
    LLM_ROLES,
    DatabaseSettings,
    ServiceSettings,
    Settings,
    normalize_database_url,
    refuse_placeholder,
)


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("postgres://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgresql://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("sqlite:///x.db", "sqlite+aiosqlite:///x.db"),
    ],
)
def test_database_urls_in_their_usual_spellings_get_the_async_driver(given: str, used: str) -> None:
    assert normalize_database_url(given) == used


def test_without_a_database_url_it_is_a_sqlite_file_in_the_data_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("SELFHEAL_DATA_DIR", str(tmp_path))
    db = DatabaseSettings()
    assert db.resolved_url == f"sqlite+aiosqlite:///{(tmp_path / 'selfheal.db').resolve()}"
    assert db.resolved_spool_dir == tmp_path / "spool"


@pytest.mark.parametrize("value", ["changeme", "your-api-key-here", "<key>", "xxxx", "..."])
def test_placeholders_are_refused_with_the_variable_named(value: str) -> None:
    with pytest.raises(ValueError, match="LLM_API_KEY looks like a placeholder"):
        refuse_placeholder(value, "LLM_API_KEY")
    assert refuse_placeholder("sk-real-looking-1234", "LLM_API_KEY") == "sk-real-looking-1234"


def test_a_placeholder_per_role_key_fails_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_JUDGE_API_KEY", "changeme")
    with pytest.raises(ValidationError, match="placeholder"):
        Settings()


def test_every_role_has_its_section(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_ANALYST_MODEL", "big-model")
    roles = Settings().llm.roles
    assert set(roles) == set(LLM_ROLES)
    assert roles["analyst"].model == "big-model" and roles["worker"].model is None


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("LOG_LEVEL", "LOUD", "LOG_LEVEL must be"),
        ("SELFHEAL_RATE_LIMIT", "lots", "is not a rate limit"),
    ],
)
def test_bad_service_values_fail_with_a_sentence(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, says: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match=says):
        ServiceSettings()


def test_the_admin_key_must_differ_from_the_client_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SELFHEAL_API_KEY", "k-123456789")
    monkeypatch.setenv("SELFHEAL_ADMIN_API_KEY", "k-123456789")
    with pytest.raises(ValidationError, match="must differ"):
        ServiceSettings()
    monkeypatch.setenv("SELFHEAL_RATE_LIMIT", "off")
    monkeypatch.setenv("SELFHEAL_ADMIN_API_KEY", "k-987654321")
    assert ServiceSettings().rate_limit is None


def test_calls_to_a_local_model_get_time_for_two_model_calls(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LLM_PROVIDER", "local")
    monkeypatch.delenv("SERVICE_TIMEOUT_S", raising=False)
    settings = Settings()
    assert settings.service.request_timeout_s >= 2 * settings.llm.local_timeout_s + 60
    monkeypatch.setenv("SERVICE_TIMEOUT_S", "5")
    assert Settings().service.request_timeout_s == 5  # set by the operator: kept
