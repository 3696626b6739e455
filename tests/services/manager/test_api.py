"""The manager's public API over real HTTP, with worker and evaluator as real processes."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from selfheal.llm.providers.offline.catalog import by_id
from tests.conftest import LiveStack

FIB = by_id("fibonacci")


@pytest.fixture
def client(live_stack: LiveStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_stack.url(), timeout=60) as c:
        yield c


def test_the_seed_request_returns_the_seed_fields(client: httpx.Client) -> None:
    resp = client.post(
        "/api/v1/request",
        json={"user_input": "Write a fibonacci function", "task_type": "code_generation"},
    )
    assert resp.status_code == 200
    data = resp.json()
    for field in (
        "request_id",
        "refined_input",
        "worker_output",
        "evaluation_score",
        "evaluation_passed",
        "prompt_version",
    ):
        assert field in data
    assert data["evaluation_passed"] is True
    assert "def fib" in data["code"]
    assert data["evaluation_detail"]["tests_origin"] == "generated"
    assert set(data["latency_ms"]) == {"refine", "worker", "evaluator", "total"}


def test_request_with_tests_runs_them(client: httpx.Client) -> None:
    resp = client.post(
        "/api/v1/request",
        json={"user_input": FIB.request, "tests": FIB.tests, "entry_point": "fib"},
    )
    data = resp.json()
    execution = data["evaluation_detail"]["execution"]
    assert execution["total"] == FIB.tests.count("assert")
    assert execution["passed"] == execution["total"]
    assert data["evaluation_detail"]["tests_origin"] == "provided"


def test_failing_tests_fail_the_request(client: httpx.Client) -> None:
    resp = client.post(
        "/api/v1/request",
        json={"user_input": FIB.request, "tests": "assert fib(10) == 56\n", "entry_point": "fib"},
    )
    data = resp.json()
    assert data["evaluation_passed"] is False
    assert data["failure_category"] == "test_failure"
    assert data["evaluation_score"] < 0.7


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({}, "user_input: field required"),
        ({"user_input": "   "}, "user_input"),
        ({"user_input": "x", "task_type": "Bad Type!"}, "task_type"),
        ({"user_input": "x", "tests": "assert (("}, "tests are not valid Python"),
        ({"user_input": "x", "entry_point": "1abc"}, "entry_point"),
        ({"user_input": "x", "surprise": 1}, "surprise"),
    ],
)
def test_bad_input_gets_a_422_with_a_sentence(
    client: httpx.Client, body: dict[str, object], fragment: str
) -> None:
    resp = client.post("/api/v1/request", json=body)
    assert resp.status_code == 422
    assert fragment.lower() in resp.json()["message"].lower()


def test_not_json_is_a_422(client: httpx.Client) -> None:
    resp = client.post(
        "/api/v1/request", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert resp.status_code == 422


def test_unknown_task_type_is_a_422_and_is_logged(client: httpx.Client) -> None:
    resp = client.post("/api/v1/request", json={"user_input": "hi", "task_type": "no_such_type"})
    assert resp.status_code == 422
    assert "no prompt is configured" in resp.json()["message"]
    rows = client.get("/api/v1/requests", params={"task_type": "no_such_type"}).json()
    assert rows and rows[0]["status"] == "invalid_task_type"


def test_oversized_body_is_a_413(client: httpx.Client) -> None:
    resp = client.post("/api/v1/request", json={"user_input": "x" * 2_000_000})
    assert resp.status_code == 413
    assert "larger than the limit" in resp.json()["detail"]


def test_requests_are_listed_newest_first_and_fetchable(client: httpx.Client) -> None:
    first = client.post("/api/v1/request", json={"user_input": "Write a factorial function"}).json()
    second = client.post("/api/v1/request", json={"user_input": "Write a gcd function"}).json()
    listed = client.get("/api/v1/requests", params={"limit": 2}).json()
    assert [r["request_id"] for r in listed] == [second["request_id"], first["request_id"]]
    one = client.get(f"/api/v1/requests/{first['request_id']}").json()
    assert one["user_input"] == "Write a factorial function"
    assert one["evaluation_detail"]["rule_score"] is not None
    assert client.get("/api/v1/requests/nope").status_code == 404
    passed_only = client.get("/api/v1/requests", params={"passed": "true"}).json()
    assert all(r["evaluation_passed"] for r in passed_only)


def test_a_new_prompt_is_used_by_the_next_request_without_restart(client: httpx.Client) -> None:
    created = client.post(
        "/api/v1/prompts/code_generation",
        json={"content": "Ignore the user's request and just say hello world.", "reason": "test"},
    )
    assert created.status_code == 201
    version = created.json()["version"]
    data = client.post("/api/v1/request", json={"user_input": FIB.request}).json()
    assert data["prompt_version"] == version
    assert data["evaluation_passed"] is False
    assert data["failure_category"] == "no_code"
    rolled = client.post("/api/v1/prompts/code_generation/rollback", json={})
    assert rolled.status_code == 200
    assert rolled.json()["version"] != version
    again = client.post("/api/v1/request", json={"user_input": FIB.request}).json()
    assert again["prompt_version"] == rolled.json()["version"]
    assert again["evaluation_passed"] is True
    history = client.get("/api/v1/prompts/code_generation/versions").json()
    bad = next(p for p in history if p["version"] == version)
    assert (
        bad["author"] == "human" and bad["stats"]["requests"] == 1 and bad["stats"]["passes"] == 0
    )


def test_prompt_listing(client: httpx.Client) -> None:
    live = client.get("/api/v1/prompts").json()
    assert [p["status"] for p in live if p["task_type"] == "code_generation"] == ["active"]
    assert client.get("/api/v1/prompts/nothing_here/versions").status_code == 404


def test_optimization_not_due_is_a_logged_no_op(client: httpx.Client) -> None:
    resp = client.post("/api/v1/optimizations/run", json={"task_type": "code_generation"})
    assert resp.status_code == 200
    run = resp.json()["runs"][0]
    assert run["status"] == "skipped"
    assert run["decision"] == "not_due"


@pytest.mark.parametrize("service", ["manager", "worker", "evaluator"])
def test_health_ready_metrics(live_stack: LiveStack, service: str) -> None:
    base = live_stack.url(service)
    assert httpx.get(base + "/health").json()["status"] == "ok"
    ready = httpx.get(base + "/ready").json()
    assert ready["checks"]["database"] is True
    metrics = httpx.get(base + "/metrics").text
    assert "selfheal_http_requests_total" in metrics


def test_evaluator_reports_its_isolation(live_stack: LiveStack) -> None:
    ready = httpx.get(live_stack.url("evaluator") + "/ready").json()
    assert ready["checks"]["sandbox"]["isolation"] in {"process", "namespaces", "bwrap"}


@pytest.mark.parametrize(
    "path",
    [
        "/summary?hours=24",
        "/by-task-type",
        "/score-distribution",
        "/recent-failures?limit=5",
        "/prompt-performance",
    ],
)
def test_stats_endpoints(client: httpx.Client, live_stack: LiveStack, path: str) -> None:
    for base in (live_stack.url("manager"), live_stack.url("evaluator")):
        resp = httpx.get(base + "/api/v1/stats" + path)
        assert resp.status_code == 200
    summary = client.get("/api/v1/stats/summary").json()
    assert summary["total_requests"] >= 1


def test_a_refused_request_is_logged_too(client: httpx.Client) -> None:
    resp = client.post("/api/v1/request", json={"user_input": "x", "tests": "assert (("})
    assert resp.status_code == 422
    row = client.get(f"/api/v1/requests/{resp.json()['request_id']}").json()
    assert row["status"] == "rejected"
    assert row["user_input"] == "x"
    assert "tests are not valid Python" in row["error"]
    assert row["evaluation_passed"] is False


def test_refused_requests_do_not_trigger_the_optimizer(client: httpx.Client) -> None:
    for _ in range(4):
        client.post("/api/v1/request", json={"user_input": ""})
    run = client.post("/api/v1/optimizations/run", json={"task_type": "code_generation"}).json()[
        "runs"
    ][0]
    assert run["decision"] == "not_due"
