"""Promotion rules on replay results (pure functions) and the golden-set loader."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from selfheal.core.config import OptimizerSettings
from selfheal.core.errors import ConfigurationError
from selfheal.services.optimizer.golden import load_golden
from selfheal.services.optimizer.replay import ReplayOutcome
from selfheal.services.optimizer.validation import compare


def outcome(key: str, score: float, origin: str = "failing") -> ReplayOutcome:
    return ReplayOutcome(
        key=key, origin=origin, user_input=key, score=score, passed=score >= 0.7, category=None
    )


SETTINGS = OptimizerSettings(min_improvement=0.05, regression_tolerance=0.0)


def test_a_clear_improvement_without_regressions_is_promotable() -> None:
    result = compare(
        [outcome("a", 0.0), outcome("b", 0.9, "passing")],
        [outcome("a", 0.9), outcome("b", 0.9, "passing")],
        SETTINGS,
    )
    assert result.promotable
    assert result.improvement == pytest.approx(0.45)


def test_fixing_failures_but_breaking_a_passing_input_is_rejected() -> None:
    incumbent = [outcome("a", 0.0), outcome("b", 0.0), outcome("g", 0.95, "golden")]
    candidate = [outcome("a", 0.95), outcome("b", 0.95), outcome("g", 0.3, "golden")]
    result = compare(incumbent, candidate, SETTINGS)
    assert not result.promotable
    assert result.regressions == ["g"]
    assert "regress" in result.reason


def test_a_small_drop_on_a_passing_input_counts_against_the_tolerance() -> None:
    incumbent = [outcome("a", 0.0), outcome("b", 0.95, "passing")]
    candidate = [outcome("a", 0.95), outcome("b", 0.90, "passing")]
    assert not compare(incumbent, candidate, SETTINGS).promotable
    assert compare(incumbent, candidate, OptimizerSettings(regression_tolerance=0.1)).promotable


def test_an_improvement_below_the_margin_is_rejected() -> None:
    result = compare([outcome("a", 0.30)], [outcome("a", 0.33)], SETTINGS)
    assert not result.promotable
    assert "below the required 0.050" in result.reason


def test_golden_set_is_read_per_task_type(tmp_path: Path) -> None:
    (tmp_path / "code_generation.jsonl").write_text(
        json.dumps(
            {"user_input": "Write gcd", "tests": "assert gcd(2, 4) == 2", "entry_point": "gcd"}
        )
        + "\n\n"
    )
    items = load_golden(tmp_path, "code_generation")
    assert [(i.origin, i.entry_point) for i in items] == [("golden", "gcd")]
    assert "must be named `gcd`" in items[0].refined_input
    assert load_golden(tmp_path, "other") == []
    assert load_golden(None, "code_generation") == []


def test_a_broken_golden_file_is_a_configuration_error(tmp_path: Path) -> None:
    (tmp_path / "code_generation.jsonl").write_text("{not json\n")
    with pytest.raises(ConfigurationError, match="line 1"):
        load_golden(tmp_path, "code_generation")
