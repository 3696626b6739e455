"""Each failure branch of the request flow, with the manager app driven in this process
(httpx's ASGI transport, the app's own lifespan): the worker down, the evaluator down, the
database down, an unknown task type. Each answer carries its request_id and each request
leaves one log row (kept in the spool while the database is away)."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import httpx
import pytest

from selfheal.core.config import Settings
from selfheal.services.manager.app import create_app
from tests.conftest import Service, free_port

BODY = {
    "user_input": "Write a fibonacci function",
    "tests": "assert fib(10) == 55",
    "entry_point": "fib",
}

# Starts the manager app in this process with the given environment variables.
Manager = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def manager(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[..., object]:
    """The manager app in this process with the given environment."""

    @asynccontextmanager
    async def start(**env: str) -> AsyncIterator[httpx.AsyncClient]:
        for key in [k for k in os.environ if k.startswith("LLM_")]:
            monkeypatch.delenv(key)
        closed = f"http://127.0.0.1:{free_port()}"
        defaults = {
            "LLM_PROVIDER": "offline",
            "WORKER_URL": closed,
            "EVALUATOR_URL": closed,
            "SELFHEAL_LOG_SPOOL_DIR": str(tmp_path / "spool"),
        }
        for key, value in {**defaults, **env}.items():
            monkeypatch.setenv(key, value)
        app = create_app(Settings())
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://manager") as c:
                yield c

    return start


async def _row(client: httpx.AsyncClient, request_id: str) -> dict[str, object]:
    resp = await client.get(f"/api/v1/requests/{request_id}")
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


async def test_worker_down(manager: Manager, db: str) -> None:
    async with manager(DATABASE_URL=db) as client:
        resp = await client.post("/api/v1/request", json=BODY)
        assert resp.status_code == 503 and resp.headers["retry-after"] == "1"
        body = resp.json()
        assert "worker unavailable" in body["detail"]
        row = await _row(client, body["request_id"])
        assert row["status"] == "worker_unavailable" and row["worker_output"] is None


async def test_evaluator_down(manager: Manager, db: str, services: list[Service]) -> None:
    worker = Service("worker", {"DATABASE_URL": db})
    services.append(worker)
    async with manager(DATABASE_URL=db, WORKER_URL=worker.url) as client:
        resp = await client.post("/api/v1/request", json=BODY)
        assert resp.status_code == 503
        body = resp.json()
        assert "evaluator unavailable" in body["detail"]
        row = await _row(client, body["request_id"])
        assert row["status"] == "evaluator_unavailable" and "def fib" in str(row["worker_output"])


async def test_unknown_task_type(manager: Manager, db: str, services: list[Service]) -> None:
    worker = Service("worker", {"DATABASE_URL": db})
    services.append(worker)
    async with manager(DATABASE_URL=db, WORKER_URL=worker.url) as client:
        resp = await client.post("/api/v1/request", json={**BODY, "task_type": "no_such_type"})
        assert resp.status_code == 422
        assert "no_such_type" in resp.json()["detail"]
        rows = (await client.get("/api/v1/requests", params={"task_type": "no_such_type"})).json()
        assert [r["status"] for r in rows] == ["invalid_task_type"]


async def test_database_down(manager: Manager, tmp_path: Path) -> None:
    gone = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/selfheal"
    async with manager(DATABASE_URL=gone) as client:
        assert (await client.get("/ready")).status_code == 503
        resp = await client.post("/api/v1/request", json=BODY)
        assert resp.status_code == 503  # the worker (here: gone too) decides the answer
        request_id = resp.json()["request_id"]
        listed = await client.get("/api/v1/requests")
        assert listed.status_code == 503
        assert "database unavailable" in listed.json()["detail"]
    spooled = [
        json.loads(line)
        for p in (tmp_path / "spool").glob("*.jsonl")
        for line in p.read_text().splitlines()
    ]
    assert [r["request_id"] for r in spooled] == [request_id]
    assert spooled[0]["status"] == "worker_unavailable"
