"""Safe by default, over real HTTP: without bubblewrap and with default settings no code runs
(the evaluator answers 503 with what is missing and how to install it, /ready is not ready,
`selfheal up` says so in red at start); weaker isolation only on the operator's explicit
opt-in, with a warning. And nothing a client sends gives a 5xx."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port, new_sqlite_database
from tests.services.evaluator._process import start_evaluator, stop_evaluator

MISSING = "/nonexistent/selfheal-test/bwrap"


def _env(directory: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SANDBOX_", "LLM_"))}
    env.update(
        DATABASE_URL=new_sqlite_database(directory),
        LLM_PROVIDER="offline",
        SANDBOX_BWRAP=MISSING,
        SANDBOX_TIMEOUT_S="2",
        SANDBOX_JOB_TIMEOUT_S="6",
    )
    env.update(extra)
    return env


def _start_evaluator(directory: Path, **extra: str) -> tuple[subprocess.Popen[bytes], httpx.Client]:
    return start_evaluator(_env(directory, **extra), directory / "evaluator.log")


@pytest.fixture(scope="module")
def refusing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    """An evaluator with default settings on a machine where bubblewrap is missing."""
    proc, client = _start_evaluator(tmp_path_factory.mktemp("refusing"))
    yield client
    stop_evaluator(proc, client)


@pytest.fixture(scope="module")
def opted_in(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    """The operator's explicit opt-in to weak isolation."""
    proc, client = _start_evaluator(
        tmp_path_factory.mktemp("opted-in"), SANDBOX_MIN_ISOLATION="process"
    )
    yield client
    stop_evaluator(proc, client)


def _body(**fields: object) -> dict[str, object]:
    body: dict[str, object] = {
        "request_id": uuid.uuid4().hex[:16],
        "task_type": "code_generation",
        "user_input": "add two numbers",
        "worker_output": "```python\ndef add(a, b):\n    return a + b\n```",
        "tests": "assert add(1, 2) == 3\n",
        "entry_point": "add",
    }
    body.update(fields)
    return body


def _says_how_to_fix(text: str) -> None:
    text = " ".join(text.split())
    assert "runs no code" in text
    assert "bubblewrap is not installed" in text and MISSING in text
    assert "apt-get install bubblewrap" in text
    assert "set SANDBOX_MIN_ISOLATION=process to accept weaker isolation" in text


def test_without_bubblewrap_the_evaluator_refuses_to_run_code(refusing: httpx.Client) -> None:
    resp = refusing.post("/api/v1/evaluate", json=_body())
    assert resp.status_code == 503
    assert resp.headers["retry-after"]
    data = resp.json()
    assert data["request_id"]
    _says_how_to_fix(data["detail"])


def test_without_bubblewrap_ready_is_not_ready_and_says_why(refusing: httpx.Client) -> None:
    resp = refusing.get("/ready")
    assert resp.status_code == 503
    data = resp.json()
    assert data["status"] == "not ready"
    sandbox = data["checks"]["sandbox"]
    assert sandbox["ok"] is False and sandbox["backend"] == "none"
    _says_how_to_fix(sandbox["reason"])
    assert refusing.get("/health").status_code == 200  # alive, so the reason can be read
    metrics = refusing.get("/metrics").text
    assert 'selfheal_sandbox_isolation_level{backend="none",level="none"} 1.0' in metrics


def test_the_opt_in_runs_weak_isolation_with_a_warning(opted_in: httpx.Client) -> None:
    ready = opted_in.get("/ready")
    assert ready.status_code == 200
    sandbox = ready.json()["checks"]["sandbox"]
    assert sandbox["backend"] == "process" and sandbox["ok"] is True
    assert "WEAK ISOLATION" in sandbox["warning"]
    resp = opted_in.post("/api/v1/evaluate", json=_body())
    assert resp.status_code == 200
    assert resp.json()["detail"]["execution"]["passed"] == 1


BAD_BODIES: list[tuple[str, bytes, str]] = [
    ("not json", b"{not json", "application/json"),
    ("not utf-8", b'{"request_id": "\xff\xfe", "task_type": "x"}', "application/json"),
    ("a list", b"[1, 2, 3]", "application/json"),
    ("deep nesting", b'{"request_id": ' + b"[" * 5000 + b"]" * 5000 + b"}", "application/json"),
    ("NaN", b'{"request_id": NaN, "task_type": Infinity}', "application/json"),
    ("lone surrogate", b'{"request_id": "\\ud800", "task_type": "x"}', "application/json"),
    ("form data", b"request_id=1", "application/x-www-form-urlencoded"),
    ("empty", b"", "application/json"),
]


@pytest.mark.parametrize(
    ("name", "raw", "content_type"), BAD_BODIES, ids=[b[0] for b in BAD_BODIES]
)
def test_malformed_bodies_are_client_errors(
    opted_in: httpx.Client, name: str, raw: bytes, content_type: str
) -> None:
    resp = opted_in.post("/api/v1/evaluate", content=raw, headers={"content-type": content_type})
    assert 400 <= resp.status_code < 500, (name, resp.status_code, resp.text)


@pytest.mark.parametrize(
    "fields",
    [
        {"worker_output": "```python\ndef add(a, b):\n    return '\ud800'\n```"},
        {"tests": "assert add('\udcff', '') == '\udcff'\n"},
        {"user_input": "\ud83d"},
        {"worker_output": "```python\ndef add(a, b):\n    return '\x00' + str(a + b)\n```"},
        {"worker_output": "\x00\x01\x02```python\n\x00\n```"},
        {"tests": "def test_(:\n"},
        {"tests": "assert add(1, 2) == 3\n" * 5000},
        {"entry_point": "__import__('os').system('id')"},
        {"entry_point": "a" * 200},
        {"entry_point": ""},
        {"worker_output": "```python\n" + "(" * 10_000 + "\n```"},
        {"worker_output": "```python\nx = " + "[" * 200 + "]" * 200 + "\n```"},
        {
            "worker_output": "```python\nprint('\\x1b[31m', '\\ud800')\ndef add(a, b):\n    return a + b\n```"
        },
        {
            "worker_output": "```python\nimport sys\nsys.stdout.buffer.write(bytes(range(256)) * 100)\ndef add(a, b):\n    return a + b\n```"
        },
        {"worker_output": 5},
        {"tests": ["assert add(1, 2) == 3"]},  # a list, not the text of the tests
        {"extra_field": 1},
        {"request_id": ""},
    ],
)
def test_nothing_a_client_sends_gives_a_server_error(
    opted_in: httpx.Client, fields: dict[str, object]
) -> None:
    # json.dumps escapes lone surrogates ("\\ud800"): valid JSON a client may send.
    raw = json.dumps(_body(**fields)).encode()
    resp = opted_in.post(
        "/api/v1/evaluate", content=raw, headers={"content-type": "application/json"}
    )
    assert resp.status_code < 500, resp.text
    if resp.status_code == 422:
        assert resp.json()["message"]
    follow_up = opted_in.post("/api/v1/evaluate", json=_body())
    assert follow_up.status_code == 200 and follow_up.json()["passed"] in (True, False)


def _up(tmp_path: Path, ports: dict[str, int], **extra: str) -> subprocess.Popen[bytes]:
    env = _env(tmp_path, FORCE_COLOR="1", COLUMNS="400", TERM="xterm", **extra)
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "selfheal.cli.main",
            "up",
            "--no-watcher",
            "--manager-port",
            str(ports["manager"]),
            "--worker-port",
            str(ports["worker"]),
            "--evaluator-port",
            str(ports["evaluator"]),
            "--data-dir",
            str(tmp_path / "data"),
            "--log-dir",
            str(tmp_path / "logs"),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _until_up(proc: subprocess.Popen[bytes]) -> str:
    """selfheal up's output up to its banner; the red SANDBOX line (SGR 31) must precede it."""
    assert proc.stdout is not None
    output = b""
    deadline = time.monotonic() + 90
    while b"selfheal is up" not in output:
        assert time.monotonic() < deadline, output.decode(errors="replace")
        line = proc.stdout.readline()
        assert line, f"selfheal up exited: {output.decode(errors='replace')}"
        output += line
    text = output.decode(errors="replace")
    red = re.search(r"\x1b\[[0-9;]*31[0-9;]*m(SANDBOX: [^\x1b]*)", text)
    assert red is not None, text
    assert text.index("SANDBOX:") < text.index("selfheal is up")
    return red.group(1)


def _interrupt(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


def test_selfheal_up_with_the_opt_in_warns_in_red(tmp_path: Path) -> None:
    ports = {"manager": free_port(), "worker": free_port(), "evaluator": free_port()}
    proc = _up(tmp_path, ports, SANDBOX_MIN_ISOLATION="process")
    try:
        warning = " ".join(_until_up(proc).split())
        assert "WEAK ISOLATION" in warning and "apt-get install bubblewrap" in warning
        evaluator = f"http://127.0.0.1:{ports['evaluator']}"
        resp = httpx.post(evaluator + "/api/v1/evaluate", json=_body(), timeout=30)
        assert resp.status_code == 200 and resp.json()["passed"] in (True, False)
    finally:
        _interrupt(proc)


def test_selfheal_up_without_bubblewrap_refuses_to_run_code(tmp_path: Path) -> None:
    """`selfheal up` with default settings where bubblewrap is missing: it says so in red at
    start, and code sent through the manager or to the evaluator is not run."""
    ports = {"manager": free_port(), "worker": free_port(), "evaluator": free_port()}
    proc = _up(tmp_path, ports)
    try:
        _says_how_to_fix(_until_up(proc))

        evaluator = f"http://127.0.0.1:{ports['evaluator']}"
        resp = httpx.post(evaluator + "/api/v1/evaluate", json=_body(), timeout=30)
        assert resp.status_code == 503
        _says_how_to_fix(resp.json()["detail"])
        assert httpx.get(evaluator + "/ready", timeout=10).status_code == 503

        manager = f"http://127.0.0.1:{ports['manager']}"
        resp = httpx.post(
            manager + "/api/v1/request",
            json={
                "task_type": "code_generation",
                "user_input": "add two numbers",
                "tests": "assert add(1, 2) == 3\n",
                "entry_point": "add",
            },
            timeout=60,
        )
        assert resp.status_code == 503
        assert "runs no code" in resp.json()["detail"]
    finally:
        _interrupt(proc)


def test_bubblewrap_missing_from_path_is_refused_too(tmp_path: Path) -> None:
    """The default SANDBOX_BWRAP (`bwrap`) looked up on a PATH that does not have it."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    env = _env(tmp_path, PATH=str(empty))
    env.pop("SANDBOX_BWRAP")
    proc, client = start_evaluator(env, tmp_path / "evaluator.log")
    try:
        resp = client.post("/api/v1/evaluate", json=_body())
        assert resp.status_code == 503
        detail = " ".join(resp.json()["detail"].split())
        assert "SANDBOX_BWRAP=bwrap was not found" in detail
        assert "apt-get install bubblewrap" in detail
        assert client.get("/ready").status_code == 503
    finally:
        stop_evaluator(proc, client)


def test_ctrl_c_right_after_the_banner_stops_every_service(tmp_path: Path) -> None:
    ports = {"manager": free_port(), "worker": free_port(), "evaluator": free_port()}
    proc = _up(tmp_path, ports)
    _until_up(proc)
    _interrupt(proc)  # at once: before or while the watcher loop starts
    for port in ports.values():  # every service is gone, none orphaned
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
