"""With SELFHEAL_API_KEY set, every /api route needs the key; probes stay open."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from selfheal.core.config import LLMSettings, ServiceSettings
from tests.conftest import LiveStack, new_sqlite_database

KEY = "s3cret-test-key"


@pytest.fixture(scope="module")
def keyed_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    data = tmp_path_factory.mktemp("keyed")
    stack = LiveStack(
        db_url=new_sqlite_database(data),
        data_dir=data,
        watcher=False,
        env={"SELFHEAL_API_KEY": KEY},
    )
    yield stack
    stack.stop()


def test_no_key_is_401_and_a_wrong_key_is_403(keyed_stack: LiveStack) -> None:
    url = keyed_stack.url() + "/api/v1/requests"
    missing = httpx.get(url)
    assert missing.status_code == 401
    assert "needs a key" in missing.json()["detail"]
    assert missing.headers["www-authenticate"] == "Bearer"
    assert httpx.get(url, headers={"x-api-key": "nope"}).status_code == 403
    assert httpx.get(url, headers={"authorization": f"Bearer {KEY}"}).status_code == 200


def test_the_manager_passes_the_key_to_worker_and_evaluator(keyed_stack: LiveStack) -> None:
    resp = httpx.post(
        keyed_stack.url() + "/api/v1/request",
        json={"user_input": "Write a fibonacci function"},
        headers={"x-api-key": KEY},
        timeout=60,
    )
    assert resp.status_code == 200
    assert resp.json()["evaluation_passed"] is True
    direct = httpx.post(keyed_stack.url("worker") + "/api/v1/task", json={})
    assert direct.status_code == 401


@pytest.mark.parametrize("service", ["manager", "worker", "evaluator"])
def test_probes_stay_open(keyed_stack: LiveStack, service: str) -> None:
    for path in ("/health", "/ready", "/metrics"):
        assert httpx.get(keyed_stack.url(service) + path).status_code == 200


@pytest.mark.parametrize("value", ["changeme", "your-api-key", "<your key>", "REPLACE_ME"])
def test_placeholder_secrets_fail_at_start_up(
    value: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LLM_API_KEY", value)
    with pytest.raises(ValidationError, match="looks like a placeholder"):
        LLMSettings()
    monkeypatch.setenv("SELFHEAL_API_KEY", value)
    with pytest.raises(ValidationError, match="looks like a placeholder"):
        ServiceSettings()
