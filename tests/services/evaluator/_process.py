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


@contextlib.contextmanager
def evaluator_process(
    directory: Path, **env: str
) -> Iterator[tuple[httpx.Client, subprocess.Popen[bytes]]]:
    """Start it with ``BWRAP_ENV`` plus ``env``; yield a client once /health answers."""
    port = free_port()
    full = {**os.environ, "DATABASE_URL": new_sqlite_database(directory), **BWRAP_ENV, **env}
    log_path = directory / "evaluator.log"
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
            env=full,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)
        try:
            for _ in range(300):
                if proc.poll() is not None:
                    break
                try:
                    if client.get("/health").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            if proc.poll() is not None:
                pytest.fail(f"evaluator exited: {log_path.read_text()[-3000:]}")
            yield client, proc
        finally:
            client.close()
            proc.terminate()
            proc.wait(timeout=10)
