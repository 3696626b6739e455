"""When a downstream service is down the manager answers 503 with the request_id, and the
request is still logged; /ready tells when the database is gone."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.conftest import Service, free_port


def test_worker_down_is_a_503_with_the_request_id_and_a_log_row(
    db: str, services: list[Service]
) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    manager = Service(
        "manager",
        {"DATABASE_URL": db, "WORKER_URL": closed, "EVALUATOR_URL": closed},
    )
    services.append(manager)
    resp = httpx.post(
        manager.url + "/api/v1/request", json={"user_input": "Write a fibonacci function"}
    )
    assert resp.status_code == 503
    body = resp.json()
    assert body["request_id"] and "worker unavailable" in body["detail"]
    row = httpx.get(f"{manager.url}/api/v1/requests/{body['request_id']}").json()
    assert row["status"] == "worker_unavailable"
    assert row["evaluation_passed"] is False and row["user_input"] == "Write a fibonacci function"


def test_evaluator_down_keeps_the_worker_output(db: str, services: list[Service]) -> None:
    worker = Service("worker", {"DATABASE_URL": db})
    services.append(worker)
    manager = Service(
        "manager",
        {
            "DATABASE_URL": db,
            "WORKER_URL": worker.url,
            "EVALUATOR_URL": f"http://127.0.0.1:{free_port()}",
        },
    )
    services.append(manager)
    resp = httpx.post(
        manager.url + "/api/v1/request", json={"user_input": "Write a fibonacci function"}
    )
    assert resp.status_code == 503
    row = httpx.get(f"{manager.url}/api/v1/requests/{resp.json()['request_id']}").json()
    assert row["status"] == "evaluator_unavailable"
    assert "def fib" in row["worker_output"] and row["prompt_version"] == 1


def test_ready_is_503_without_a_database(tmp_path: Path, services: list[Service]) -> None:
    missing = tmp_path / "no" / "such" / "dir" / "x.db"
    worker = Service(
        "worker",
        {"DATABASE_URL": f"sqlite+aiosqlite:///{missing}"},
    )
    services.append(worker)
    assert httpx.get(worker.url + "/health").status_code == 200
    ready = httpx.get(worker.url + "/ready")
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"] is False
