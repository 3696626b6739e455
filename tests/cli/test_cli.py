"""The `selfheal` command line as a user runs it, against a live system."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx

from selfheal.bench.heal import BAD_PROMPTS
from selfheal.llm.providers.offline.catalog import by_id
from tests.conftest import OFFLINE_ENV, LiveStack, free_port


def selfheal(stack: LiveStack, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLM_", "OPTIMIZER_"))}
    env.update(
        DATABASE_URL=stack.db_url, WORKER_URL=stack.url("worker"), EVALUATOR_URL=stack.url("evaluator"),
        MANAGER_URL=stack.url("manager"), COLUMNS="200", OPTIMIZER_DEBOUNCE_S="0", **OFFLINE_ENV,
    )  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "selfheal.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_request_prints_the_verdict(live_stack: LiveStack) -> None:
    out = selfheal(live_stack, "request", "Write a factorial function", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["evaluation_passed"] is True and "def factorial" in data["code"]


def test_prompts_set_diff_versions_and_rollback(live_stack: LiveStack, tmp_path: Path) -> None:
    prompt_file = tmp_path / "prompt.txt"
    prompt_file.write_text(
        "You are terse.\nReply with the code only, in a single fenced ```python code block.\n"
    )
    out = selfheal(
        live_stack, "prompts", "set", "code_generation", str(prompt_file), "--reason", "cli test"
    )
    assert out.returncode == 0, out.stderr
    assert "is active" in out.stdout
    diff = selfheal(live_stack, "prompts", "diff", "code_generation")
    assert diff.returncode == 0
    assert "+You are terse." in diff.stdout and "-You are an expert Python engineer" in diff.stdout
    versions = selfheal(live_stack, "prompts", "versions", "code_generation")
    assert "cli test" in versions.stdout and "human" in versions.stdout
    listed = selfheal(live_stack, "prompts", "list")
    assert "You are terse." in listed.stdout
    back = selfheal(live_stack, "prompts", "rollback", "code_generation")
    assert back.returncode == 0 and "is active again" in back.stdout


def test_optimize_is_a_no_op_when_nothing_is_due_and_heals_when_it_is(
    live_stack: LiveStack,
) -> None:
    quiet = selfheal(live_stack, "optimize", "--task-type", "code_generation", "--json")
    assert quiet.returncode == 0, quiet.stderr
    assert json.loads(quiet.stdout)[0]["decision"] == "not_due"

    httpx.post(
        f"{live_stack.url()}/api/v1/prompts/code_generation", json={"content": BAD_PROMPTS[0]}
    )
    task = by_id("gcd")
    for _ in range(3):
        httpx.post(
            f"{live_stack.url()}/api/v1/request",
            json={"user_input": task.request, "tests": task.tests, "entry_point": task.entry_point},
            timeout=60,
        )
    healed = selfheal(live_stack, "optimize", "--json")
    assert healed.returncode == 0, healed.stderr
    decisions = [r["decision"] for r in json.loads(healed.stdout)]
    assert "promoted" in decisions
    after = httpx.post(
        f"{live_stack.url()}/api/v1/request",
        json={"user_input": task.request, "tests": task.tests, "entry_point": task.entry_point},
        timeout=60,
    ).json()
    assert after["evaluation_passed"] is True


def test_diff_of_an_unknown_version_says_so(live_stack: LiveStack) -> None:
    out = selfheal(live_stack, "prompts", "diff", "code_generation", "999")
    assert out.returncode == 1
    assert "no such prompt version" in out.stdout


def test_migrate_waits_for_the_database_then_gives_up_with_a_sentence(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLM_")}
    env["DATABASE_URL"] = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/nothing"
    out = subprocess.run(
        [sys.executable, "-m", "selfheal.cli.main", "migrate", "--wait", "1"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 1
    assert "did not answer within 1 s" in out.stdout


def test_migrate_creates_a_fresh_sqlite_database(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLM_") and k != "DATABASE_URL"}
    env["SELFHEAL_DATA_DIR"] = str(tmp_path / "data")
    out = subprocess.run(
        [sys.executable, "-m", "selfheal.cli.main", "migrate", "--wait", "5"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "data" / "selfheal.db").exists()
