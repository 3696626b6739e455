"""Faults under load, on real processes: the worker or the evaluator killed mid-load and
started again, PostgreSQL restarted mid-load, the provider in a storm of 429 / 500 /
timeouts. Every request ends in a result or a 503 that carries its request_id; every
request is logged exactly once (rows kept on disk while the database is away are written
once it is back); the services recover without being restarted themselves."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from selfheal.llm.providers.offline.catalog import by_id
from selfheal.testing.protocol_servers import Fault, OpenAIServer
from tests.conftest import REQUIRE_PG, Service

FIB = by_id("fibonacci")
BODY = {"user_input": FIB.request, "tests": FIB.tests, "entry_point": FIB.entry_point}


@dataclass
class Load:
    """Clients sending requests back to back until stopped; every answer is kept."""

    url: str
    clients: int = 3
    answers: list[tuple[float, int, dict[str, object]]] = field(default_factory=list)
    transport_errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def _client(self) -> None:
        with httpx.Client(base_url=self.url, timeout=60) as client:
            while not self._stop.is_set():
                try:
                    resp = client.post("/api/v1/request", json=BODY)
                except httpx.HTTPError as exc:
                    self.transport_errors.append(repr(exc))
                    continue
                self.answers.append((time.monotonic(), resp.status_code, resp.json()))

    def __enter__(self) -> Load:
        self._threads = [threading.Thread(target=self._client) for _ in range(self.clients)]
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=90)

    def after(self, moment: float) -> list[int]:
        return [status for at, status, _ in self.answers if at > moment]


def _stack(db_url: str, tmp_path: Path, services: list[Service], **extra: str) -> Service:
    env = {
        "DATABASE_URL": db_url,
        "SELFHEAL_LOG_SPOOL_DIR": str(tmp_path / "spool"),
        "SELFHEAL_LOG_SPOOL_INTERVAL_S": "0.3",
        **extra,
    }
    worker = Service("worker", env)
    evaluator = Service("evaluator", env)
    services += [worker, evaluator]
    manager = Service("manager", {**env, "WORKER_URL": worker.url, "EVALUATOR_URL": evaluator.url})
    services.append(manager)
    return manager


def _assert_every_answer_logged_once(manager: Service, load: Load, wait_s: float = 30) -> None:
    assert not load.transport_errors, load.transport_errors[:3]
    assert load.answers, "the load generator got no answers"
    for _, status, body in load.answers:
        assert status in (200, 503), (status, body)
        assert isinstance(body.get("request_id"), str), body
        if status == 503:
            assert "unavailable" in str(body["detail"]), body
    ids = [str(body["request_id"]) for _, _, body in load.answers]
    assert len(set(ids)) == len(ids)
    deadline = time.monotonic() + wait_s
    while True:
        logged = [str(r["request_id"]) for r in _rows(manager)]
        if sorted(logged) == sorted(ids) or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    missing, extra = set(ids) - set(logged), set(logged) - set(ids)
    assert sorted(logged) == sorted(ids), (
        f"{len(ids)} answers, {len(logged)} rows; {len(missing)} missing (e.g. "
        f"{sorted(missing)[:3]}), {len(extra)} extra (e.g. {sorted(extra)[:3]})"
    )


def _rows(manager: Service) -> list[dict[str, object]]:
    """Every log row, page by page."""
    rows: list[dict[str, object]] = []
    with httpx.Client(base_url=manager.url, timeout=30) as client:
        while True:
            page = client.get("/api/v1/requests", params={"limit": 500, "offset": len(rows)})
            if page.status_code != 200:
                return rows
            rows += page.json()
            if len(page.json()) < 500:
                return rows


@pytest.mark.parametrize("victim", ["worker", "evaluator"])
def test_a_service_killed_mid_load_and_started_again(
    db_url: str, tmp_path: Path, services: list[Service], victim: str
) -> None:
    manager = _stack(db_url, tmp_path, services)
    target = next(s for s in services if s.name == victim)
    with Load(manager.url) as load:
        time.sleep(1.5)
        target.kill()
        time.sleep(1.0)
        services.append(target.restarted())
        back = time.monotonic()
        time.sleep(2.5)
    statuses = [s for _, s, _ in load.answers]
    assert 503 in statuses, "the kill did not land mid-load"
    after = load.after(back + 0.5)
    assert after and set(after) == {200}, after  # recovered, the manager never restarted
    down = [b for _, s, b in load.answers if s == 503]
    assert all(f"{victim} unavailable" in str(b["detail"]) for b in down), down[:2]
    _assert_every_answer_logged_once(manager, load)
    assert {r["status"] for r in _rows(manager)} <= {"completed", f"{victim}_unavailable"}


def _pg_cluster() -> tuple[str, str] | None:
    """The local PostgreSQL cluster serving port 5432 (version, name), if this machine
    manages it with Debian's pg_ctlcluster and we may restart it."""
    if os.geteuid() != 0 or shutil.which("pg_lsclusters") is None:
        return None
    out = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[2] == "5432" and parts[3] == "online":
            return parts[0], parts[1]
    return None


@pytest.fixture
def pg_cluster() -> tuple[str, str]:
    cluster = _pg_cluster()
    if cluster is None:
        message = "no local PostgreSQL cluster on 5432 that pg_ctlcluster can restart"
        if REQUIRE_PG:
            pytest.fail(message)
        pytest.skip(message)
    return cluster


@pytest.mark.postgres
def test_postgresql_restarted_mid_load(
    pg_db_url: str, tmp_path: Path, services: list[Service], pg_cluster: tuple[str, str]
) -> None:
    manager = _stack(pg_db_url, tmp_path, services)
    with Load(manager.url) as load:
        time.sleep(1.5)
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", *pg_cluster, "restart", "-m", "fast"],
            check=True,
            capture_output=True,
            timeout=120,
        )
        back = time.monotonic()
        time.sleep(3.0)
    after = load.after(back + 1.0)
    assert after and set(after) == {200}, after
    _assert_every_answer_logged_once(manager, load)
    assert not list((tmp_path / "spool").glob("*.jsonl")) or all(
        not p.read_text().strip() for p in (tmp_path / "spool").glob("*.jsonl")
    )


@pytest.fixture
def storm_server() -> Iterator[OpenAIServer]:
    with OpenAIServer(api_key="sk-storm-0123456789") as server:
        yield server  # type: ignore[misc]


@pytest.mark.parametrize(
    "storm",
    [
        pytest.param([Fault.rate_limit(retry_after=0.2)] * 40, id="429"),
        pytest.param([Fault.server_error(500), Fault.server_error(503)] * 20, id="500"),
        pytest.param([Fault.slow(5.0)] * 12, id="timeout"),
    ],
)
def test_a_provider_storm_ends_in_results_or_503s_and_passes_over(
    db: str,
    tmp_path: Path,
    services: list[Service],
    storm_server: OpenAIServer,
    storm: list[Fault],
) -> None:
    llm = {
        "LLM_PROVIDER": "openai",
        "LLM_BASE_URL": storm_server.base_url,
        "LLM_API_KEY": "sk-storm-0123456789",
        "LLM_MODEL": "local-model",
        "LLM_MAX_RETRIES": "1",
        "LLM_RETRY_MAX_WAIT_S": "0.5",
        "LLM_TIMEOUT_S": "1",
        "LLM_BREAKER_FAILURES": "3",
        "LLM_BREAKER_RESET_S": "1",
    }
    manager = _stack(db, tmp_path, services, **llm)
    storm_server.fail_next(*storm)
    with Load(manager.url, clients=2) as load:
        deadline = time.monotonic() + 60
        while storm_server.pending_faults and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not storm_server.pending_faults, "the storm was not consumed"
        over = time.monotonic()
        time.sleep(4.0)  # the breakers' reset time, then normal traffic
    during = [s for at, s, _ in load.answers if at <= over]
    assert 503 in during or any(
        b.get("evaluation_passed") is False for at, _, b in load.answers if at <= over
    ), "the storm left no trace"
    after = load.after(over + 2.5)
    assert after and set(after) == {200}, after
    _assert_every_answer_logged_once(manager, load)


@pytest.mark.postgres
def test_rows_of_requests_answered_while_the_database_is_away_are_written_when_it_is_back(
    pg_db_url: str, tmp_path: Path, services: list[Service]
) -> None:
    """Deterministic: the database refuses every connection for a while (its sessions
    ended, new ones refused); requests then get a 503 with their request_id, their rows
    wait in the spool and are written once connections are allowed again."""
    import asyncio

    from tests.conftest import _pg_exec

    name = pg_db_url.rsplit("/", 1)[1]
    manager = _stack(pg_db_url, tmp_path, services)
    assert httpx.post(manager.url + "/api/v1/request", json=BODY, timeout=60).status_code == 200
    asyncio.run(_pg_exec(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
    asyncio.run(
        _pg_exec(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
    )
    try:
        away = [
            httpx.post(manager.url + "/api/v1/request", json=BODY, timeout=60) for _ in range(3)
        ]
        assert [r.status_code for r in away] == [503] * 3, [r.text for r in away]
        assert all(r.json()["request_id"] for r in away)
        assert httpx.get(manager.url + "/ready", timeout=30).status_code == 503
        spooled = sum(len(p.read_text().splitlines()) for p in (tmp_path / "spool").glob("*.jsonl"))
        assert spooled == 3
    finally:
        asyncio.run(_pg_exec(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
    deadline = time.monotonic() + 30
    ids = {r.json()["request_id"] for r in away}
    while time.monotonic() < deadline:
        rows = {str(r["request_id"]): r for r in _rows(manager)}
        if ids <= rows.keys():
            break
        time.sleep(0.3)
    assert ids <= rows.keys() and len(rows) == 4
    assert {rows[i]["status"] for i in ids} == {"worker_unavailable"}
    assert not list((tmp_path / "spool").glob("*.jsonl"))
