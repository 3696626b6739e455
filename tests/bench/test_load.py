"""The load benchmarks, small: the system and the floor chain measured side by side with wrk
(structure, no errors, every selfheal request passing, the floor's fork and INSERT made),
and the per-request LLM cost read from the services' /metrics (here on the offline model:
the refine call skipped because the requests bring tests, one worker and one judge call)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from selfheal.bench.load import run_load_benchmark
from selfheal.bench.model_cost import run_model_cost_benchmark
from tests.conftest import free_port


@pytest.fixture(autouse=True)
def _wrk() -> None:
    if shutil.which("wrk") is None:
        pytest.fail("wrk is not installed (apt-get install wrk; scripts/test.sh does)")


@pytest.fixture(autouse=True)
def _environment() -> Iterator[None]:
    """The benchmarks leave this process's environment as they found it."""

    def ours() -> dict[str, str]:
        return {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}

    saved = ours()
    yield
    assert ours() == saved


def _ports() -> int:
    """A base port whose next 13 ports are free (selfheal +0..2, the floor +10..12)."""
    while True:
        base = free_port()
        if base < 60000:
            return base


def test_the_system_and_the_floor_are_measured_side_by_side(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LLM_PROVIDER", raising=False)
    report = run_load_benchmark(
        requests=60, concurrencies=[1, 4], base_port=_ports(), output=tmp_path / "load.json"
    )
    assert (tmp_path / "load.json").stat().st_size > 0
    for chain in ("selfheal", "floor"):
        runs = report[chain]["runs"]
        assert [r["concurrency"] for r in runs] == [1, 4]
        assert all(r["errors"] == 0 and r["requests"] > 0 for r in runs), runs
        assert all(r["latency_ms"]["p50"] <= r["latency_ms"]["p99"] for r in runs)
        assert set(report[chain]["start_s"]) == set(runs[0]["services"])
    assert all(r["passed"] == r["requests"] for r in report["selfheal"]["runs"])
    back = report["floor"]["runs"][-1]["services"]["back"]
    assert back["cpu_ms_per_request"] > 0  # the forked children's CPU is counted
    assert set(report["ratio_to_floor"]) == {"1", "4"}
    assert 0 < report["ratio_to_floor"]["4"] < 5
    assert set(report["goals"]) >= {"p50_ms_at_1", "rss_mb_per_service_after", "start_to_health_s"}


def test_the_model_cost_is_read_from_the_services_metrics(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LLM_MODEL", raising=False)
    report = run_model_cost_benchmark(
        provider="offline",
        model=None,
        requests=3,
        base_port=_ports(),
        output=tmp_path / "cost.json",
    )
    assert report["requests"] == report["passed"] == 3 and report["errors"] == 0
    per = report["per_request"]
    assert per["calls"] == {"worker": 1.0, "judge": 1.0}
    assert per["saved"] == {"refiner.tests_given": 1.0}
    assert per["tokens"]["worker.output"] > 0
    assert report["mean_latency_ms"]["refine"] == 0
    assert report["e2e_over_worker"] is not None and report["e2e_over_worker"] >= 1
