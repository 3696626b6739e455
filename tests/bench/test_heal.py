"""The seed's heal benchmark against a running system labels a simulator run as such."""

from __future__ import annotations

from pathlib import Path

import pytest

from selfheal.bench.heal import run_heal_benchmark, source_label
from tests.conftest import LiveStack

pytestmark = pytest.mark.e2e


async def test_a_run_on_the_offline_model_is_labelled_simulation(
    live_stack: LiveStack, tmp_path: Path
) -> None:
    summary = await run_heal_benchmark(
        manager_url=live_stack.url(),
        cycles=1,
        requests=3,
        output_dir=tmp_path,
        manual=True,
        heal_timeout_s=30,
    )

    assert (summary["provider"], summary["source"]) == ("offline", "simulation")
    assert "SIMULATION" in (tmp_path / "healing_report.md").read_text().splitlines()[0]


def test_real_providers_are_not_labelled_simulation() -> None:
    assert source_label("openai") == "real model"
    assert source_label(None) == "unknown"
