"""`LLM_PROVIDER=openai LLM_BASE_URL=http://127.0.0.1:PORT/v1 selfheal up` serves a request
end to end through the openai SDK, against a local server speaking OpenAI's protocol."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from selfheal.llm.base import Role
from selfheal.llm.prompts import JUDGE_SYSTEM, REFINER_SYSTEM
from selfheal.llm.providers.offline import infer_role
from selfheal.llm.providers.offline.catalog import by_id
from selfheal.testing.protocol_servers import OpenAIServer
from tests.conftest import LiveStack

pytestmark = pytest.mark.e2e
KEY = "sk-e2e-test-key-0123456789"


@pytest.fixture
def openai_server() -> Iterator[OpenAIServer]:
    with OpenAIServer(api_key=KEY) as server:
        yield server  # type: ignore[misc]


@pytest.fixture
def stack(openai_server: OpenAIServer, tmp_path: Path) -> Iterator[LiveStack]:
    env = {
        "LLM_PROVIDER": "openai",
        "LLM_BASE_URL": openai_server.base_url,
        "LLM_API_KEY": KEY,
        "LLM_MODEL": "local-model",
    }
    live = LiveStack(
        db_url=f"sqlite+aiosqlite:///{tmp_path / 'selfheal.db'}",
        data_dir=tmp_path,
        watcher=False,
        env=env,
    )
    yield live
    assert live.stop() == 0


def test_selfheal_up_serves_a_request_through_the_openai_protocol(
    stack: LiveStack, openai_server: OpenAIServer
) -> None:
    task = by_id("factorial")
    with httpx.Client(base_url=stack.url(), timeout=60) as client:
        response = client.post(
            "/api/v1/request",
            json={"user_input": task.request, "tests": task.tests, "entry_point": task.entry_point},
        )
        active = next(p for p in client.get("/api/v1/prompts").json() if p["status"] == "active")
        ready = httpx.get(stack.url("worker") + "/ready", timeout=10).json()

    assert response.status_code == 200, stack.logs()[-3000:]
    body = response.json()
    assert body["evaluation_passed"] is True, body
    assert "def factorial(" in body["code"]
    assert body["prompt_version"] == active["version"]
    assert "openai" in str(ready) and "local-model" in str(ready)

    seen = openai_server.exchanges()
    roles = [infer_role(e.system) for e in seen]
    worker_calls = [e for e in seen if infer_role(e.system) is Role.WORKER]
    # no refine call (SELFHEAL_REFINE=auto: the request brought its tests); one judge call
    assert roles.count(Role.REFINER) == 0 and roles.count(Role.JUDGE) == 1
    assert [e.system for e in worker_calls] == [active["content"]]
    assert task.request in worker_calls[0].prompt
    assert {e.model for e in seen} == {"local-model"}
    assert all(r.headers["authorization"] == f"Bearer {KEY}" for r in openai_server.requests)
    assert REFINER_SYSTEM not in {e.system for e in seen} and JUDGE_SYSTEM in {
        e.system for e in seen
    }
    assert KEY not in stack.logs()
