"""End to end: the services as real processes heal a sabotaged prompt, on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from selfheal.testing.scenarios import BAD_PROMPTS, split_tasks
from tests.conftest import LiveStack

SABOTAGE = BAD_PROMPTS[0]
TRAIN, HELDOUT = split_tasks(5)


def _ask(client: httpx.Client, task_index: int, tasks: list = TRAIN) -> dict:  # type: ignore[type-arg]
    task = tasks[task_index % len(tasks)]
    resp = client.post(
        "/api/v1/request",
        json={"user_input": task.request, "tests": task.tests, "entry_point": task.entry_point},
    )
    assert resp.status_code == 200, resp.text
    return resp.json()  # type: ignore[no-any-return]


def _pass_rate(results: list[dict[str, Any]]) -> float:
    return float(sum(r["evaluation_passed"] for r in results) / len(results))


@pytest.fixture
def watched_stack(live_db: str, tmp_path: Path) -> Iterator[LiveStack]:
    stack = LiveStack(db_url=live_db, data_dir=tmp_path, watcher=True)
    yield stack
    assert stack.stop() == 0


def test_the_watcher_heals_a_sabotaged_prompt(watched_stack: LiveStack) -> None:
    with httpx.Client(base_url=watched_stack.url(), timeout=60) as client:
        healthy = [_ask(client, i) for i in range(3)]
        assert _pass_rate(healthy) == 1.0

        bad = client.post("/api/v1/prompts/code_generation", json={"content": SABOTAGE}).json()[
            "version"
        ]
        broken = [_ask(client, i) for i in range(5)]
        assert _pass_rate(broken) == 0.0
        assert {r["failure_category"] for r in broken} == {"no_code"}
        assert {r["prompt_version"] for r in broken} == {bad}

        deadline = time.monotonic() + 30
        active = bad
        while time.monotonic() < deadline and active == bad:
            time.sleep(0.2)
            live = client.get("/api/v1/prompts").json()
            active = next(p["version"] for p in live if p["status"] == "active")
        assert active != bad, (
            "the watcher did not heal within 30 s:\n" + watched_stack.logs()[-3000:]
        )

        healed = [_ask(client, i) for i in range(5)]
        heldout = [_ask(client, i, HELDOUT) for i in range(len(HELDOUT))]
        assert _pass_rate(healed) == 1.0
        assert _pass_rate(heldout) == 1.0
        assert {r["prompt_version"] for r in healed} == {active}

        runs = client.get("/api/v1/optimizations").json()
        run = next(r for r in runs if r["new_version"] == active)
        assert run["trigger"] == "watcher"
        # The burst of five failures made exactly one run (debounced, then not due again).
        assert [r["trigger"] for r in runs if r["kind"] == "optimize"] == ["watcher"]
        assert run["decision"] == "promoted"
        assert run["incumbent_version"] == bad
        assert run["analysis"]["failure_counts"] == {"no_code": 5}
        incumbent = run["candidates"][0]
        assert incumbent["mean_score"] < run["candidates"][-1]["mean_score"] or any(
            c["pass_rate"] == 1.0 for c in run["candidates"][1:]
        )
        versions = client.get("/api/v1/prompts/code_generation/versions").json()
        new = next(v for v in versions if v["version"] == active)
        assert new["author"] == "optimizer" and new["parent_version"] == bad and new["reason"]
        assert "hello world" not in new["content"].lower()


def test_the_api_trigger_heals_without_a_watcher(live_stack: LiveStack) -> None:
    with httpx.Client(base_url=live_stack.url(), timeout=120) as client:
        client.post("/api/v1/prompts/code_generation", json={"content": BAD_PROMPTS[1]})
        broken = [_ask(client, i) for i in range(4)]
        assert _pass_rate(broken) == 0.0
        report = client.post(
            "/api/v1/optimizations/run", json={"task_type": "code_generation"}
        ).json()
        run = report["runs"][0]
        assert run["decision"] == "promoted", run
        assert run["trigger"] == "api"
        assert run["improvement_pct"] > 0
        healed = [_ask(client, i) for i in range(5)]
        assert _pass_rate(healed) == 1.0
        again = client.post(
            "/api/v1/optimizations/run", json={"task_type": "code_generation"}
        ).json()
        assert (
            again["runs"][0]["decision"] == "not_due"
        )  # failures already acted upon don't re-trigger
