"""A heal run through the real services (offline simulator as the model): healthy
traffic, a sabotaged prompt written by a person, failures, the watcher's heal, recovery."""

from __future__ import annotations

import time

import httpx

from selfheal.testing.scenarios import BAD_PROMPTS, split_tasks

TRAIN, _ = split_tasks(5)


def ask(client: httpx.Client, index: int) -> dict:  # type: ignore[type-arg]
    task = TRAIN[index % len(TRAIN)]
    resp = client.post(
        "/api/v1/request",
        json={"user_input": task.request, "tests": task.tests, "entry_point": task.entry_point},
    )
    assert resp.status_code == 200, resp.text
    return resp.json()  # type: ignore[no-any-return]


def heal_run(client: httpx.Client, *, timeout_s: float = 60) -> dict[str, int]:
    """Drive one heal; returns the sabotaged and the healed version numbers."""
    for i in range(3):
        ask(client, i)
    bad = client.post(
        "/api/v1/prompts/code_generation",
        json={"content": BAD_PROMPTS[0], "reason": "sabotage for the dashboard test"},
    ).json()["version"]
    for i in range(5):
        assert not ask(client, i)["evaluation_passed"]
    deadline = time.monotonic() + timeout_s
    active = bad
    while active == bad:
        assert time.monotonic() < deadline, "the watcher did not heal in time"
        time.sleep(0.3)
        live = client.get("/api/v1/prompts").json()
        active = next(p["version"] for p in live if p["status"] == "active")
    for i in range(4):
        ask(client, i)
    return {"bad": bad, "healed": active}
