"""The stack's wiring: its services get their environment from it, this process keeps its
own, and what runs here reads the same values as one Settings object."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from selfheal.core.config import get_settings
from selfheal.stack import Stack, StackConfig


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    """Each test's environment is read afresh (and the next test's after it)."""
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_a_scratch_stack_wires_its_services_without_touching_this_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://someone@elsewhere/prod")
    monkeypatch.setenv("LLM_API_KEY", "sk-operator-key-0123456789")
    monkeypatch.setenv("LLM_MODEL", "gemini-pro")
    before = dict(os.environ)
    stack = Stack(StackConfig.scratch("selfheal-test-", base_port=9100, llm_provider="offline"))

    child = stack.child_environment()
    assert child["DATABASE_URL"].startswith("sqlite+aiosqlite:///")  # its own, not prod
    assert Path(child["SELFHEAL_DATA_DIR"]) == stack.config.data_dir.resolve()
    assert child["WORKER_URL"] == "http://127.0.0.1:9101"
    assert child["LLM_PROVIDER"] == "offline"
    assert "LLM_API_KEY" not in child and "LLM_MODEL" not in child

    settings = stack.settings
    assert settings.db.resolved_url == child["DATABASE_URL"]
    assert settings.service.evaluator_url == "http://127.0.0.1:9102"
    assert settings.llm.effective_provider == "offline"
    assert settings.llm.api_key is None and settings.llm.model is None
    assert dict(os.environ) == before


def test_up_keeps_the_environments_database_and_model(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://me@db/selfheal")
    monkeypatch.setenv("LLM_MODEL", "qwen2.5-coder-1.5b")
    stack = Stack(StackConfig(data_dir=tmp_path, model_port=8123))
    child = stack.child_environment()
    assert child["DATABASE_URL"] == "postgresql://me@db/selfheal"
    assert child["LLM_MODEL"] == "qwen2.5-coder-1.5b" and child["LLM_LOCAL_PORT"] == "8123"
    assert stack.settings.db.resolved_url == "postgresql+asyncpg://me@db/selfheal"
    assert stack.settings.llm.local_port == 8123
