"""Admission on real service processes: the manager's per-key rate limit (429 + Retry-After),
the in-flight bound that sheds instead of queueing (503 + Retry-After, the manager's request
logged), and a SIGTERM that lets in-flight requests finish."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from selfheal.core.config import ServiceSettings
from selfheal.llm.providers.offline.catalog import by_id
from selfheal.testing.protocol_servers import Fault, OpenAIServer
from tests.conftest import Service

KEY = "sk-admission-test-0123456789"


@pytest.fixture
def llm() -> Iterator[OpenAIServer]:
    with OpenAIServer(api_key=KEY) as server:
        yield server  # type: ignore[misc]


def _llm_env(server: OpenAIServer) -> dict[str, str]:
    return {
        "LLM_PROVIDER": "openai",
        "LLM_BASE_URL": server.base_url,
        "LLM_API_KEY": KEY,
        "LLM_MODEL": "local-model",
        "LLM_MAX_RETRIES": "0",
    }


def test_a_bad_rate_limit_is_refused_with_a_sentence() -> None:
    with pytest.raises(ValueError, match="write it like '20/second'"):
        ServiceSettings(SELFHEAL_RATE_LIMIT="lots")
    assert ServiceSettings(SELFHEAL_RATE_LIMIT="off").rate_limit is None


def test_the_manager_rate_limits_each_key_with_retry_after(
    db: str, services: list[Service]
) -> None:
    manager = Service("manager", {"DATABASE_URL": db, "SELFHEAL_RATE_LIMIT": "3/minute"})
    services.append(manager)
    a, b = {"x-api-key": "client-a"}, {"authorization": "Bearer client-b"}
    with httpx.Client(base_url=manager.url, timeout=10) as client:
        first = [client.get("/api/v1/prompts", headers=a).status_code for _ in range(3)]
        refused = client.get("/api/v1/prompts", headers=a)
        other = client.get("/api/v1/prompts", headers=b)
        health = [client.get("/health").status_code for _ in range(5)]

    assert first == [200, 200, 200]
    assert refused.status_code == 429
    # the window opened with the first call a moment ago: the wait is the rest of the minute
    assert int(refused.headers["retry-after"]) in range(50, 61)
    assert "3 per 1 minute" in refused.json()["detail"]
    assert refused.json()["request_id"]
    assert other.status_code == 200  # another key has its own window
    assert health == [200] * 5  # probes are never limited


def test_a_busy_worker_sheds_and_the_manager_logs_the_503(
    db: str, services: list[Service], llm: OpenAIServer
) -> None:
    env = {"DATABASE_URL": db, **_llm_env(llm)}
    worker = Service("worker", {**env, "SERVICE_MAX_IN_FLIGHT": "1"})
    manager = Service("manager", {**env, "WORKER_URL": worker.url})
    services.extend([worker, manager])
    llm.fail_next(Fault.slow(4))  # the first call (the direct task below) holds the one slot
    busy: dict[str, httpx.Response] = {}

    def occupy() -> None:
        busy["r"] = httpx.post(
            worker.url + "/api/v1/task",
            json={
                "request_id": "occupier",
                "task_type": "code_generation",
                "refined_input": "Write a function add(a, b) that returns a + b.",
            },
            timeout=30,
        )

    thread = threading.Thread(target=occupy)
    thread.start()
    deadline = time.monotonic() + 10
    while not llm.exchanges() and time.monotonic() < deadline:
        time.sleep(0.05)
    shed = httpx.post(
        worker.url + "/api/v1/task",
        json={"request_id": "second", "task_type": "code_generation", "refined_input": "x"},
    )
    via_manager = httpx.post(
        manager.url + "/api/v1/request",
        json={"user_input": "Write a fibonacci function"},
        timeout=30,
    )
    thread.join()

    assert shed.status_code == 503 and shed.headers["retry-after"] == "1"
    assert "SERVICE_MAX_IN_FLIGHT" in shed.json()["detail"]
    assert via_manager.status_code == 503
    body = via_manager.json()
    assert "busy" in body["detail"] and body["request_id"]
    row = httpx.get(f"{manager.url}/api/v1/requests/{body['request_id']}").json()
    assert row["status"] == "worker_unavailable"
    assert busy["r"].status_code == 200  # the request in flight was served, not dropped


def test_sigterm_lets_the_request_in_flight_finish(
    db: str, services: list[Service], llm: OpenAIServer
) -> None:
    env = {"DATABASE_URL": db, **_llm_env(llm)}
    worker = Service("worker", env)
    evaluator = Service("evaluator", env)
    manager = Service("manager", {**env, "WORKER_URL": worker.url, "EVALUATOR_URL": evaluator.url})
    services.extend([worker, evaluator, manager])
    llm.fail_next(Fault.slow(2))  # the manager's refine call: the request is in flight
    task = by_id("factorial")
    result: dict[str, httpx.Response] = {}

    def send() -> None:
        result["r"] = httpx.post(
            manager.url + "/api/v1/request",
            json={"user_input": task.request, "tests": task.tests, "entry_point": task.entry_point},
            timeout=60,
        )

    thread = threading.Thread(target=send)
    thread.start()
    deadline = time.monotonic() + 10
    while not llm.exchanges() and time.monotonic() < deadline:
        time.sleep(0.05)
    manager.proc.send_signal(signal.SIGTERM)  # mid-request
    thread.join()
    code = manager.proc.wait(timeout=30)

    response = result["r"]
    assert response.status_code == 200, response.text
    assert response.json()["evaluation_passed"] is True
    assert code in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once it has drained
    restarted = Service("manager", {**env, "WORKER_URL": worker.url})
    services.append(restarted)
    row = httpx.get(f"{restarted.url}/api/v1/requests/{response.json()['request_id']}").json()
    assert row["status"] == "completed"
