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


ADMIN = "adm1n-test-key"
TOKEN = "1nternal-test-token"


@pytest.fixture(scope="module")
def role_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    data = tmp_path_factory.mktemp("roles")
    stack = LiveStack(
        db_url=new_sqlite_database(data),
        data_dir=data,
        watcher=False,
        env={
            "SELFHEAL_API_KEY": KEY,
            "SELFHEAL_ADMIN_API_KEY": ADMIN,
            "SELFHEAL_INTERNAL_TOKEN": TOKEN,
        },
    )
    yield stack
    stack.stop()


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/prompts/code_generation", {"content": "Write Python.", "activate": False}),
        ("/api/v1/prompts/code_generation/rollback", {"to_version": 1}),
        ("/api/v1/optimizations/run", {"task_type": "code_generation"}),
    ],
)
def test_admin_routes_refuse_the_client_key(role_stack: LiveStack, path: str, body: dict) -> None:  # type: ignore[type-arg]
    url = role_stack.url() + path
    refused = httpx.post(url, json=body, headers={"x-api-key": KEY}, timeout=60)
    assert refused.status_code == 403
    assert "needs the admin key" in refused.json()["detail"]
    assert httpx.post(url, json=body, timeout=60).status_code == 401
    allowed = httpx.post(url, json=body, headers={"authorization": f"Bearer {ADMIN}"}, timeout=60)
    # Past the auth check (a rollback to the version already live is a 409, not a 403).
    assert allowed.status_code in (200, 201, 409), allowed.text


def test_client_and_admin_keys_may_send_requests_and_read(role_stack: LiveStack) -> None:
    for key in (KEY, ADMIN):
        resp = httpx.post(
            role_stack.url() + "/api/v1/request",
            json={"user_input": "Write a fibonacci function"},
            headers={"x-api-key": key},
            timeout=60,
        )
        assert resp.status_code == 200, resp.text  # the manager reached worker and evaluator
        assert httpx.get(
            role_stack.url() + "/api/v1/requests", headers={"x-api-key": key}
        ).is_success


@pytest.mark.parametrize("service", ["worker", "evaluator"])
def test_internal_services_accept_only_the_internal_token(
    role_stack: LiveStack, service: str
) -> None:
    path = {"worker": "/api/v1/task", "evaluator": "/api/v1/evaluate"}[service]
    url = role_stack.url(service) + path
    missing = httpx.post(url, json={}, headers={"x-api-key": ADMIN})
    assert missing.status_code == 401
    assert "internal" in missing.json()["detail"]
    assert httpx.post(url, json={}, headers={"x-internal-token": "nope"}).status_code == 403
    assert httpx.post(url, json={}, headers={"x-internal-token": TOKEN}).status_code == 422


def test_keys_never_reach_the_logs(role_stack: LiveStack) -> None:
    httpx.post(role_stack.url() + "/api/v1/prompts/x", json={}, headers={"x-api-key": KEY})
    logs = role_stack.logs()
    assert logs
    for secret in (KEY, ADMIN, TOKEN):
        assert secret not in logs


def test_an_admin_key_equal_to_the_client_key_fails_at_start_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SELFHEAL_API_KEY", KEY)
    monkeypatch.setenv("SELFHEAL_ADMIN_API_KEY", KEY)
    with pytest.raises(ValidationError, match="must differ"):
        ServiceSettings()
