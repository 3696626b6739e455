"""Schemathesis against each service's own OpenAPI document, on the running stack (real
processes, real HTTP, both databases): generated valid and invalid bodies, paths and query
strings (huge integers, control characters, wrong types) never get a server error.

Bounded: a fixed number of examples per operation and a fixed seed, so a CI run is
repeatable; ``SELFHEAL_FUZZ_SEED`` / ``SELFHEAL_FUZZ_EXAMPLES`` explore further by hand.
A failure prints schemathesis's own report with a curl line that reproduces it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import LiveStack

SEED = os.environ.get("SELFHEAL_FUZZ_SEED", "20261203")
EXAMPLES = os.environ.get("SELFHEAL_FUZZ_EXAMPLES", "40")


def _schemathesis() -> str:
    cli = Path(sys.executable).with_name("st")
    if not cli.exists():
        pytest.fail("schemathesis is not installed: pip install -e '.[dev]'")
    return str(cli)


@pytest.mark.parametrize("service", ["manager", "worker", "evaluator"])
def test_no_generated_request_gets_a_server_error(
    live_stack: LiveStack, service: str, tmp_path: Path
) -> None:
    url = live_stack.url(service)
    operations = sum(len(ops) for ops in httpx.get(url + "/openapi.json").json()["paths"].values())
    assert operations >= 4  # /health, /ready, /metrics and the service's own API
    result = subprocess.run(
        [
            _schemathesis(),
            "run",
            url + "/openapi.json",
            "--checks",
            "not_a_server_error",
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            EXAMPLES,
            "--seed",
            SEED,
            "--workers",
            "2",
            "--generation-database",
            "none",
            "--request-timeout",
            "60",
            "--no-color",
            "--report-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]
    assert f"Tested: {operations}" in result.stdout, result.stdout[-4000:]
    # The services are still up and serving after the run.
    assert httpx.get(url + "/ready", timeout=10).status_code == 200
