"""The evaluator as a real process on a free port, for tests that talk to it over HTTP."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port, new_sqlite_database

BWRAP_ENV = {
    "LLM_PROVIDER": "offline",
    "SANDBOX_BACKEND": "auto",
    "SANDBOX_MIN_ISOLATION": "bwrap",
    "SANDBOX_TIMEOUT_S": "2",
    "SANDBOX_JOB_TIMEOUT_S": "8",
}


def start_evaluator(
    env: dict[str, str], log_path: Path
) -> tuple[subprocess.Popen[bytes], httpx.Client]:
    """The evaluator app under uvicorn with exactly ``env``, on a free port; returns once its
    /health answers (fails the test, with its log, when it exits or never answers)."""
    port = free_port()
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "selfheal.services.evaluator.app:create_app",
                "--port",
                str(port),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)
    for _ in range(300):
        if proc.poll() is not None:
            client.close()
            pytest.fail(f"the evaluator exited: {log_path.read_text(errors='replace')[-3000:]}")
        with contextlib.suppress(httpx.TransportError):
            if client.get("/health").status_code == 200:
                return proc, client
        time.sleep(0.1)
    stop_evaluator(proc, client)
    pytest.fail("the evaluator did not answer /health")


def stop_evaluator(proc: subprocess.Popen[bytes], client: httpx.Client) -> None:
    client.close()
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextlib.contextmanager
def evaluator_process(
    directory: Path, **env: str
) -> Iterator[tuple[httpx.Client, subprocess.Popen[bytes]]]:
    """Start it with ``BWRAP_ENV`` plus ``env``; yield a client once /health answers."""
    full = {**os.environ, "DATABASE_URL": new_sqlite_database(directory), **BWRAP_ENV, **env}
    proc, client = start_evaluator(full, directory / "evaluator.log")
    try:
        yield client, proc
    finally:
        stop_evaluator(proc, client)
