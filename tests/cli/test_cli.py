"""The `selfheal` command line as a user runs it: a client of a system started elsewhere.

Every command runs in its own directory with no DATABASE_URL and reaches the services only
through --url, so none can be reading a database beside it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from selfheal.llm.providers.offline.catalog import by_id
from selfheal.testing.scenarios import BAD_PROMPTS
from tests.conftest import OFFLINE_ENV, LiveStack, free_port, new_sqlite_database

KEY = "cli-test-key-123"


def _env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LLM_", "OPTIMIZER_", "SELFHEAL_"))
        and k not in ("DATABASE_URL", "MANAGER_URL", "WORKER_URL", "EVALUATOR_URL")
    }
    env.update(COLUMNS="200", **OFFLINE_ENV)
    env.update(extra)
    return env


def cli(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `selfheal ARGS` in ``cwd``, a directory unrelated to the running system."""
    return subprocess.run(
        [sys.executable, "-m", "selfheal.cli.main", *args],
        cwd=cwd,
        env=env or _env(),
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.fixture
def elsewhere(tmp_path: Path) -> Iterator[Path]:
    """The CLI's working directory; it must stay free of any database file."""
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    yield cwd
    assert not (cwd / ".selfheal").exists(), "a client command touched a local database"


def test_request_prints_the_code_byte_for_byte(live_stack: LiveStack, elsewhere: Path) -> None:
    task = by_id("palindrome")
    out = cli(elsewhere, "request", task.request, "--url", live_stack.url())
    assert out.returncode == 0, out.stderr
    first, *body, last = out.stdout.splitlines(keepends=True)
    assert first.startswith("PASS ") and "ms" in last
    request_id = first.split("request_id=")[1].strip()
    stored = httpx.get(f"{live_stack.url()}/api/v1/requests/{request_id}").json()
    assert "[c.lower() for c in text" in stored["code"]
    code = stored["code"] if stored["code"].endswith("\n") else stored["code"] + "\n"
    assert "".join(body) == code


def test_request_json_has_the_seed_fields(live_stack: LiveStack, elsewhere: Path) -> None:
    out = cli(
        elsewhere, "request", "Write a factorial function", "--json", "--url", live_stack.url()
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["evaluation_passed"] is True and "def factorial" in data["code"]


def test_prompts_set_list_versions_diff_and_rollback(
    live_stack: LiveStack, elsewhere: Path
) -> None:
    url = ("--url", live_stack.url())
    prompt_file = elsewhere / "prompt.txt"
    prompt_file.write_text(
        "You are terse. [bold]not markup[/bold]\n"
        "Reply with the code only, in a single fenced ```python code block.\n"
    )
    out = cli(
        elsewhere,
        "prompts",
        "set",
        "code_generation",
        str(prompt_file),
        "--reason",
        "cli test",
        *url,
    )
    assert out.returncode == 0, out.stderr
    new = int(out.stdout.split(": v")[1].split()[0])
    assert f"v{new} is active" in out.stdout

    diff = cli(elsewhere, "prompts", "diff", "code_generation", *url)
    assert diff.returncode == 0, diff.stderr
    assert "+You are terse. [bold]not markup[/bold]" in diff.stdout
    assert "-You are an expert Python engineer" in diff.stdout
    between = cli(elsewhere, "prompts", "diff", "code_generation", "1", str(new), *url)
    assert between.returncode == 0 and f"+++ code_generation v{new}" in between.stdout
    assert "--- code_generation v1" in between.stdout

    versions = cli(elsewhere, "prompts", "versions", "code_generation", *url)
    assert versions.returncode == 0, versions.stderr
    assert "cli test" in versions.stdout and "human" in versions.stdout
    listed = cli(elsewhere, "prompts", "list", *url)
    assert "You are terse. [bold]not markup[/bold]" in listed.stdout

    back = cli(elsewhere, "prompts", "rollback", "code_generation", *url)
    assert back.returncode == 0, back.stderr
    assert "is active again" in back.stdout
    runs = httpx.get(f"{live_stack.url()}/api/v1/optimizations").json()
    assert runs[0]["kind"] == "rollback" and runs[0]["trigger"] == "cli"


def test_optimize_is_a_no_op_when_nothing_is_due_and_heals_when_it_is(
    live_stack: LiveStack, elsewhere: Path
) -> None:
    url = ("--url", live_stack.url())
    quiet = cli(elsewhere, "optimize", "--task-type", "code_generation", "--json", *url)
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
    failed = cli(elsewhere, "logs", "--failed", "--limit", "3", *url)
    assert failed.returncode == 0, failed.stderr
    assert failed.stdout.count("no_code") == 3

    healed = cli(elsewhere, "optimize", "--json", *url)
    assert healed.returncode == 0, healed.stderr
    assert "promoted" in [r["decision"] for r in json.loads(healed.stdout)]
    after = httpx.post(
        f"{live_stack.url()}/api/v1/request",
        json={"user_input": task.request, "tests": task.tests, "entry_point": task.entry_point},
        timeout=60,
    ).json()
    assert after["evaluation_passed"] is True
    recent = cli(elsewhere, "logs", "--limit", "1", "--json", *url)
    assert json.loads(recent.stdout)["request_id"] == after["request_id"]


def test_logs_follow_prints_new_requests(live_stack: LiveStack, elsewhere: Path) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "selfheal.cli.main",
            "logs",
            "--follow",
            "--limit",
            "1",
            "--interval",
            "0.2",
            "--json",
            "--url",
            live_stack.url(),
        ],
        cwd=elsewhere,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(2)
        sent = httpx.post(
            f"{live_stack.url()}/api/v1/request",
            json={"user_input": "Write a fibonacci function"},
            timeout=60,
        ).json()
        time.sleep(2)
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    ids = [json.loads(line)["request_id"] for line in out.splitlines()]
    assert sent["request_id"] in ids, err
    assert proc.returncode == 0, err


def test_diff_of_an_unknown_version_is_one_sentence(live_stack: LiveStack, elsewhere: Path) -> None:
    out = cli(elsewhere, "prompts", "diff", "code_generation", "999", "--url", live_stack.url())
    assert out.returncode == 1
    assert "no such prompt version" in out.stderr
    assert "Traceback" not in out.stderr + out.stdout


def test_an_unreachable_manager_is_one_sentence_and_debug_shows_the_traceback(
    elsewhere: Path,
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    out = cli(elsewhere, "prompts", "list", "--url", url)
    assert out.returncode == 1
    assert out.stderr.startswith(f"error: cannot reach the manager at {url}")
    assert "Traceback" not in out.stderr
    debug = cli(elsewhere, "--debug", "prompts", "list", "--url", url)
    assert debug.returncode == 1 and "Traceback" in debug.stderr
    from_env = cli(elsewhere, "prompts", "list", env=_env(SELFHEAL_URL=url))
    assert f"cannot reach the manager at {url}" in from_env.stderr


@pytest.fixture(scope="module")
def keyed_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    data = tmp_path_factory.mktemp("keyed-cli")
    stack = LiveStack(
        db_url=new_sqlite_database(data),
        data_dir=data,
        watcher=False,
        env={"SELFHEAL_API_KEY": KEY},
    )
    yield stack
    stack.stop()


def test_every_client_command_sends_the_api_key(keyed_stack: LiveStack, elsewhere: Path) -> None:
    url = ("--url", keyed_stack.url())
    denied = cli(elsewhere, "prompts", "list", *url)
    assert denied.returncode == 1 and "needs an API key" in denied.stderr
    wrong = cli(elsewhere, "prompts", "list", "--api-key", "nope", *url)
    assert "refused the API key" in wrong.stderr
    prompt_file = elsewhere / "p.txt"
    prompt_file.write_text("Reply with the code only, in a single fenced ```python code block.\n")
    env = _env(SELFHEAL_API_KEY=KEY)
    commands = [
        ["request", "Write a fibonacci function"],
        ["prompts", "list"],
        ["prompts", "versions"],
        ["prompts", "set", "code_generation", str(prompt_file)],
        ["prompts", "diff"],
        ["prompts", "diff", "code_generation", "1", "2"],
        ["prompts", "rollback"],
        ["optimize", "--json"],
        ["logs"],
        ["logs", "--failed"],
    ]
    for args in commands:
        out = cli(elsewhere, *args, *url, env=env)
        assert out.returncode == 0, (args, out.stderr)
    flag = cli(elsewhere, "prompts", "list", "--api-key", KEY, *url)
    assert flag.returncode == 0, flag.stderr


def test_up_prints_the_urls_including_the_dashboard(tmp_path: Path) -> None:
    stack = LiveStack(db_url=new_sqlite_database(tmp_path), data_dir=tmp_path, watcher=False)
    page = httpx.get(stack.url() + "/dashboard")
    stack.proc.send_signal(signal.SIGINT)
    out, _ = stack.proc.communicate(timeout=30)
    assert page.status_code == 200 and "Healing over time" in page.text
    text = out.decode()
    assert f"dashboard  {stack.url()}/dashboard" in text
    assert f"API        {stack.url()}/api/v1" in text


def test_migrate_waits_for_the_database_then_gives_up_with_a_sentence(tmp_path: Path) -> None:
    env = _env(DATABASE_URL=f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/nothing")
    out = cli(tmp_path, "migrate", "--wait", "1", env=env)
    assert out.returncode == 1
    assert "did not answer within 1 s" in out.stdout


def test_migrate_creates_a_fresh_sqlite_database(tmp_path: Path) -> None:
    out = cli(
        tmp_path, "migrate", "--wait", "5", env=_env(SELFHEAL_DATA_DIR=str(tmp_path / "data"))
    )
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "data" / "selfheal.db").exists()
