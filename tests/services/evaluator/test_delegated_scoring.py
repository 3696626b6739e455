"""How units the code's own operators decided (delegated) count in the score and verdict."""

from __future__ import annotations

import pytest

from selfheal.core.config import EvaluatorSettings
from selfheal.llm.schemas import JudgeVerdict
from selfheal.sandbox import runner
from selfheal.sandbox.runner import DELEGATED, TRUSTED, ExecutionVerdict
from selfheal.services.evaluator.checks import analyse_code
from selfheal.services.evaluator.scoring import DELEGATED_CREDIT, combine

CODE = "def f(x: int) -> int:\n    '''Square.'''\n    return x * x\n"
JUDGE = JudgeVerdict(relevance=1, correctness=1, quality=1, safety=1, reasoning="fine")


def _verdict(*outcomes: tuple[str, str]) -> ExecutionVerdict:
    tests = [runner.TestResult(f"t{i}", s, "", i, g) for i, (s, g) in enumerate(outcomes)]
    return ExecutionVerdict("ok", "zygote", 1.0, True, None, True, tests)


def _score(execution: ExecutionVerdict, origin: str = "provided"):  # type: ignore[no-untyped-def]
    return combine(
        settings=EvaluatorSettings(),
        has_code=True,
        static=analyse_code(CODE),
        execution=execution,
        tests_origin=origin,
        entry_point="f",
        judge=JUDGE,
        judge_error=None,
    )


def test_all_trusted_passes() -> None:
    score = _score(_verdict(("passed", TRUSTED), ("passed", TRUSTED)))
    assert score.passed and score.gates == [] and score.rule_parts["tests"] == 1.0


def test_mixed_passes_pass_with_half_credit_for_the_delegated_unit() -> None:
    score = _score(_verdict(("passed", TRUSTED), ("passed", DELEGATED)))
    assert score.passed and score.gates == []
    assert score.rule_parts["tests"] == pytest.approx((1 + DELEGATED_CREDIT) / 2)


@pytest.mark.parametrize("origin", ["provided", "generated"])
def test_only_delegated_passes_never_pass(origin: str) -> None:
    score = _score(_verdict(("passed", DELEGATED), ("passed", DELEGATED)), origin)
    assert not score.passed
    assert score.gates == ["unverified_tests"]
    assert score.category == "test_failure"
    assert score.score < EvaluatorSettings().pass_threshold
    assert score.rule_parts["tests"] == DELEGATED_CREDIT


def test_a_failing_unit_beside_trusted_passes_still_gates() -> None:
    score = _score(_verdict(("passed", TRUSTED), ("failed", TRUSTED)))
    assert not score.passed and score.gates == ["failing_tests"]


def test_generated_tests_that_all_failed_are_left_to_the_judge_as_before() -> None:
    score = _score(_verdict(("failed", TRUSTED)), "generated")
    assert score.gates == [] and score.passed
