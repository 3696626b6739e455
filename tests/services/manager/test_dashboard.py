"""The dashboard's SQL (on SQLite and PostgreSQL) and its auth, over real HTTP."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from selfheal.db import execution_logs
from selfheal.db.models import RunTrigger, utcnow
from selfheal.services.manager import prompt_service
from selfheal.services.manager.dashboard import queries
from selfheal.services.manager.dashboard.version_stats import VersionStatsCache
from tests.conftest import LiveStack, new_sqlite_database

KEY = "dashboard-key-42"


async def _log(
    session: AsyncSession,
    *,
    minutes_ago: float,
    passed: bool,
    version: int = 1,
    status: str = "completed",
    **extra: object,
) -> None:
    await execution_logs.insert(
        session,
        request_id=str(uuid.uuid4()),
        task_type="code_generation",
        status=status,
        user_input="Write x " * 100,
        worker_output="```python\nx = 1\n```" * 50,
        evaluation_passed=passed,
        evaluation_score=0.9 if passed else 0.1,
        failure_category=None if passed else "test_failure",
        prompt_version=version,
        provider="offline",
        model="offline-sim-1",
        input_tokens=10,
        output_tokens=5,
        created_at=utcnow() - timedelta(minutes=minutes_ago),
        **extra,
    )
    await session.commit()


async def test_the_timeline_buckets_pass_rate_and_score_in_sql(session: AsyncSession) -> None:
    for _ in range(3):
        await _log(session, minutes_ago=50, passed=True)
    await _log(session, minutes_ago=20, passed=False)
    await _log(session, minutes_ago=20, passed=True)
    await _log(session, minutes_ago=20, passed=True, status="rejected")  # not a verdict
    await _log(session, minutes_ago=60 * 30, passed=False)  # outside the window
    win = await queries.window(session, hours=24, buckets=10)
    assert (utcnow() - win.start) < timedelta(minutes=51)
    points = (await queries.timeline(session, win=win))["code_generation"]
    assert [p["requests"] for p in points] == [3, 2]
    assert [p["pass_rate"] for p in points] == [1.0, 0.5]
    assert points[1]["avg_score"] == pytest.approx(0.5)
    assert points[0]["t"] < points[1]["t"] and points[1]["t"] % win.bucket_s == 0


async def test_version_events_say_who_changed_the_prompt_and_why(session: AsyncSession) -> None:
    start = utcnow() - timedelta(minutes=1)
    human = await prompt_service.add_human_version(
        session, task_type="code_generation", content="be brief", reason="trying brevity"
    )
    await prompt_service.rollback(
        session,
        task_type="code_generation",
        to_version=1,
        reason="brevity broke it",
        trigger=RunTrigger.API,
    )
    events = await queries.version_events(session, since=start)
    # The seed is in the window too when the migration ran less than a minute ago.
    changes = [e for e in events if e["who"] != "seed"]
    assert [(e["version"], e["who"]) for e in changes] == [
        (human.version, "human"),
        (1, "rollback"),
    ]
    assert changes[0]["why"] == "trying brevity" and changes[1]["why"] == "brevity broke it"


async def test_pages_are_keyset_paginated_excerpts(session: AsyncSession) -> None:
    for i in range(9):  # four failures, the newest with generated tests and code to judge
        extra: dict[str, Any] = (
            {
                "code": "x = 1",
                "evaluation_detail": {"tests_origin": "generated"},
                "latency_refine_ms": 9.5,
            }
            if i == 7
            else {}
        )
        await _log(session, minutes_ago=10 - i, passed=i % 2 == 0, **extra)
    first = await queries.requests_page(session, failed_only=True, before_id=None, limit=2)
    second = await queries.requests_page(
        session, failed_only=True, before_id=first[-1]["id"], limit=2
    )
    assert len(first) == len(second) == 2 and first[-1]["id"] > second[0]["id"]
    assert all(not r["evaluation_passed"] for r in first + second)
    assert len(first[0]["input_excerpt"]) == queries.EXCERPT_CHARS
    # refiner, worker, test writer, judge; then the worker only (the request brought its
    # tests, so no refine call; no code to judge)
    assert [first[0]["llm_calls"], first[1]["llm_calls"]] == [4, 1]
    assert first[0]["created_at"].tzinfo is not None


async def test_system_status_counts_and_names_the_model(session: AsyncSession) -> None:
    await _log(session, minutes_ago=5, passed=True)
    await _log(session, minutes_ago=5, passed=False)
    await _log(session, minutes_ago=120, passed=False)
    status = await queries.system_status(session)
    assert (status.total_requests, status.last_hour_requests) == (3, 2)
    assert status.last_hour_pass_rate == 0.5
    assert (status.provider, status.model) == ("offline", "offline-sim-1")
    assert [(v.task_type, v.version, v.status) for v in status.live] == [
        ("code_generation", 1, "active")
    ]


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    data: Path = tmp_path_factory.mktemp("dash-keyed")
    stack = LiveStack(
        db_url=new_sqlite_database(data),
        data_dir=data,
        watcher=False,
        env={"SELFHEAL_API_KEY": KEY},
    )
    yield stack
    stack.stop()


def test_the_dashboard_is_behind_the_api_key(keyed: LiveStack) -> None:
    with httpx.Client(base_url=keyed.url()) as client:
        missing = client.get("/dashboard")
        assert missing.status_code == 401 and 'name="key"' in missing.text
        assert client.get("/dashboard?key=wrong").status_code == 403
        assert client.get("/dashboard/diff?task_type=code_generation&a=1&b=1").status_code == 401
        assert client.get("/dashboard", headers={"x-api-key": KEY}).status_code == 200
        login = client.get("/dashboard?key=" + KEY + "&hours=2")
        assert login.status_code == 303 and login.headers["location"] == "/dashboard?hours=2"
        assert "httponly" in login.headers["set-cookie"].lower()
        page = client.get("/dashboard")  # the cookie now
        assert page.status_code == 200 and "Healing over time" in page.text
        diff = client.get("/dashboard/diff?task_type=code_generation&a=1&b=1")
        assert diff.status_code == 200 and "(no differences)" in diff.text
        assert client.get("/dashboard/static/uPlot.iife.min.js").status_code == 200


def test_the_page_escapes_what_users_and_models_wrote(keyed: LiveStack) -> None:
    headers = {"x-api-key": KEY}
    httpx.post(
        keyed.url() + "/api/v1/prompts/code_generation",
        json={"content": "<script>alert(1)</script>", "reason": "<img src=x onerror=alert(2)>"},
        headers=headers,
    ).raise_for_status()
    page = httpx.get(keyed.url() + "/dashboard", headers=headers).text
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)" in page
    assert "<img src=x" not in page


async def test_incremental_version_stats_equal_a_full_aggregate(session: AsyncSession) -> None:
    cache = VersionStatsCache()
    for i in range(6):  # settled: older than the settle time
        await _log(session, minutes_ago=120 - i, passed=i % 3 != 0, version=1 + i % 2)
    await _log(session, minutes_ago=0, passed=False, version=2)  # fresh
    full = await execution_logs.version_stats(session, task_type="code_generation")
    assert await cache.stats(session, task_type="code_generation") == full
    for i in range(3):  # more of both kinds after the first look
        await _log(session, minutes_ago=90, passed=True, version=3)
        await _log(session, minutes_ago=0, passed=i == 0, version=2)
    full = await execution_logs.version_stats(session, task_type="code_generation")
    assert full[2]["requests"] == 7 and full[3]["requests"] == 3
    assert await cache.stats(session, task_type="code_generation") == full
