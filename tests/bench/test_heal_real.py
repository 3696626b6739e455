"""The in-process heal benchmark, on the simulator (fast, deterministic): its figures are
labelled simulation, it measures both history modes, and it writes its reports."""

from __future__ import annotations

import json
from pathlib import Path

from selfheal.bench.catalog import TASKS
from selfheal.bench.heal_real import BenchConfig, run_real_heal_benchmark
from selfheal.bench.heal_tasks import SABOTAGE, humaneval_tasks
from selfheal.core.config import OptimizerSettings


async def test_the_simulated_run_heals_with_history_and_is_labelled_simulation(
    tmp_path: Path,
) -> None:
    config = BenchConfig(
        provider="offline",
        visible=4,
        heldout=4,
        sabotage=["hello-world"],
        optimizer=OptimizerSettings(candidates=2, refine_rounds=2),
    )

    summary = await run_real_heal_benchmark(config, output_dir=tmp_path)

    assert summary["source"] == "simulation"
    without, with_history = summary["cycles"]
    assert (without["history"], with_history["history"]) == (False, True)
    assert with_history["heldout_pass_at_1_sabotage"] == 0.0
    assert with_history["heldout_pass_at_1_healed"] == summary["good_prompt"]["heldout_pass_at_1"]
    assert with_history["promoted_source"] == "history" and with_history["goal_healed"]
    assert without["promoted_source"] in (None, "optimizer")
    assert with_history["optimizer_llm_calls"] >= 1
    report = (tmp_path / "heal-simulation.md").read_text()
    assert report.startswith("# Heal benchmark — SIMULATION")
    assert json.loads((tmp_path / "heal-simulation.json").read_text())["source"] == "simulation"
    assert (tmp_path / "heal-simulation.png").stat().st_size > 0


def test_the_task_split_is_deterministic_and_disjoint() -> None:
    visible, heldout = humaneval_tasks(8, 8)

    assert [t.id for t in visible] == [t.id for t in humaneval_tasks(8, 8)[0]]
    assert not {t.id for t in visible} & {t.id for t in heldout}
    assert len(visible) == len(heldout) == 8
    assert all("check(" not in t.user_input and t.tests.strip() for t in visible + heldout)


def test_there_are_sabotage_prompts_of_four_kinds() -> None:
    assert set(SABOTAGE) == {"hello-world", "format", "naming", "subtle"}


def test_the_simulators_catalogue_is_benchmark_data() -> None:
    provider_dir = Path(__file__).parents[2] / "src/selfheal/llm/providers/offline"
    sources = "".join(p.read_text() for p in provider_dir.glob("*.py"))

    assert len(TASKS) == 38 and len({t.id for t in TASKS}) == 38
    assert "def fib(" not in sources and "Task(" not in sources


async def test_a_run_with_fewer_visible_tasks_than_the_threshold_still_triggers(
    tmp_path: Path,
) -> None:
    config = BenchConfig(
        provider="offline", visible=2, heldout=2, sabotage=["naming"], history_modes=[True]
    )

    summary = await run_real_heal_benchmark(config, output_dir=tmp_path)

    assert summary["cycles"][0]["decision"] != "not_due"
