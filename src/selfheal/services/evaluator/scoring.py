"""Score = rule_weight * rule + judge_weight * judge, capped below the threshold by hard gates.

Delegated units (runner.DELEGATED: the code's own operator decided the outcome, e.g. its
``__eq__``) are evidence that cannot be trusted on its own:

- in the rule score's ``tests`` part a delegated pass counts half of a trusted pass
  (``(trusted + DELEGATED_CREDIT * delegated) / total``), so a forged pass cannot reach a
  full rule score and an honest program whose tests compare its own objects loses little;
- for the verdict, a request with provided tests needs every unit passed AND at least one
  unit passed as trusted: passes that are all delegated gate ``unverified_tests``
  (category ``test_failure``) whatever the judge says. With generated tests (which gate
  only when the judge agrees) the same gate applies when some units passed and none as
  trusted, since the judge is shown those passes.
"""

from __future__ import annotations

from dataclasses import dataclass

from selfheal.core.config import EvaluatorSettings
from selfheal.llm.schemas import JudgeVerdict
from selfheal.sandbox.runner import ExecutionVerdict
from selfheal.services.evaluator.checks import StaticReport

# Parts of the rule score and their weights (sum 1.0).
RULE_WEIGHTS = {
    "parses": 0.15,
    "entry_point": 0.10,
    "executes": 0.15,
    "tests": 0.40,
    "safe": 0.10,
    "docstring": 0.05,
    "type_hints": 0.05,
}
# What a delegated pass is worth in the rule score's tests part, against 1.0 for a trusted one.
DELEGATED_CREDIT = 0.5
# When several gates apply, the failure category is the first of these that applies:
# a run that never finished, or code that broke the rules, says more than failing tests.
CATEGORY_PRIORITY = (
    "no_code",
    "syntax_error",
    "timeout",
    "unsafe_code",
    "runtime_error",
    "test_failure",
)
# How the judge's four dimensions make one number.
JUDGE_WEIGHTS = {"relevance": 0.2, "correctness": 0.5, "quality": 0.15, "safety": 0.15}


@dataclass(slots=True)
class Score:
    score: float
    passed: bool
    rule_score: float
    llm_score: float | None
    category: str | None
    gates: list[str]
    rule_parts: dict[str, float]


def rule_parts(
    *,
    has_code: bool,
    static: StaticReport | None,
    execution: ExecutionVerdict | None,
    entry_point: str | None,
) -> dict[str, float]:
    if not has_code or static is None:
        return dict.fromkeys(RULE_WEIGHTS, 0.0)
    executes = 1.0 if execution is not None and execution.status == "ok" else 0.0
    if execution is None:
        executes = 0.0
    if entry_point:
        defined = execution.entry_point_defined if execution else None
        entry = (
            1.0 if (defined if defined is not None else entry_point in static.functions) else 0.0
        )
    else:
        entry = 1.0 if static.functions else 0.5
    if execution is not None and execution.total:
        delegated = execution.passed - execution.trusted_passed
        tests = (execution.trusted_passed + DELEGATED_CREDIT * delegated) / execution.total
    else:
        tests = executes  # nothing to test against: loading cleanly is all we know
    return {
        "parses": 1.0 if static.syntax_ok else 0.0,
        "entry_point": entry if static.syntax_ok else 0.0,
        "executes": executes,
        "tests": tests,
        "safe": 0.0 if static.dangerous else 1.0,
        "docstring": 1.0 if static.docstring else 0.0,
        "type_hints": 1.0 if static.type_hints else 0.0,
    }


def judge_score(verdict: JudgeVerdict) -> float:
    return float(sum(float(getattr(verdict, k)) * w for k, w in JUDGE_WEIGHTS.items()))


def combine(
    *,
    settings: EvaluatorSettings,
    has_code: bool,
    static: StaticReport | None,
    execution: ExecutionVerdict | None,
    tests_origin: str | None,
    entry_point: str | None,
    judge: JudgeVerdict | None,
    judge_error: str | None,
    dangerous_gates: bool = True,
) -> Score:
    """The verdict. ``dangerous_gates``: dangerous constructs gate (weak isolation) rather
    than only lower the rule part's "safe" share (real isolation holds)."""
    parts = rule_parts(
        has_code=has_code, static=static, execution=execution, entry_point=entry_point
    )
    rule = sum(parts[k] * w for k, w in RULE_WEIGHTS.items())
    llm = judge_score(judge) if judge is not None else None
    raw = rule if llm is None else settings.rule_weight * rule + settings.judge_weight * llm

    gates: list[tuple[str, str]] = []  # (gate, failure category)
    if not has_code:
        gates.append(("no_code", "no_code"))
    elif static is not None and not static.syntax_ok:
        gates.append(("syntax_error", "syntax_error"))
    elif execution is not None:
        gates.extend(_execution_gates(execution, tests_origin, entry_point, judge))
    if dangerous_gates and has_code and static is not None and static.dangerous:
        gates.append(("dangerous_code", "unsafe_code"))
    category = min((c for _, c in gates), key=CATEGORY_PRIORITY.index, default=None)

    if gates and llm is None and judge_error is None:
        # The judge was not asked (a gate decides): the rules alone rank the failure, scaled
        # below the cap, so that a closer miss (the name right, more tests passing) still
        # scores higher than a wider one; that ordering is what the optimizer climbs.
        score = settings.gate_cap * rule
    else:
        score = min(raw, settings.gate_cap) if gates else raw
    score = round(max(0.0, min(1.0, score)), 4)
    passed = not gates and llm is not None and score >= settings.pass_threshold
    if not passed and category is None:
        if judge_error is not None:
            category = "judge_unavailable"
        elif judge is not None and judge.relevance < 0.5:
            category = "off_topic"
        else:
            category = "low_quality"
    return Score(
        score,
        passed,
        round(rule, 4),
        None if llm is None else round(llm, 4),
        category,
        [g for g, _ in gates],
        parts,
    )


def _execution_gates(
    execution: ExecutionVerdict,
    tests_origin: str | None,
    entry_point: str | None,
    judge: JudgeVerdict | None,
) -> list[tuple[str, str]]:
    if execution.status == "timeout":
        return [("timeout", "timeout")]
    if execution.status == "violation":
        if execution.violation == "memory_limit":  # the job's memory budget ran out
            return [("memory_limit", "runtime_error")]
        return [("sandbox_violation", "unsafe_code")]
    if execution.status == "crashed":
        return [("crashed", "runtime_error")]
    if execution.status == "load_error":
        return [("load_error", "runtime_error")]
    gates: list[tuple[str, str]] = []
    if execution.total and execution.passed < execution.total:
        failing = [t for t in execution.tests if t.status != "passed"]
        category = "runtime_error" if all(t.status == "error" for t in failing) else "test_failure"
        if tests_origin == "provided":
            gates.append(("failing_tests", category))
        elif judge is not None and judge.correctness < 0.5:
            # Generated tests are unverified: they gate only when the judge agrees.
            gates.append(("failing_generated_tests", category))
    if execution.passed and execution.trusted_passed == 0:
        # Every pass was vouched for by the code's own operators, none compared on plain
        # data by the tests' side: never enough to pass (and the judge saw those passes).
        gates.append(("unverified_tests", "test_failure"))
    if entry_point and execution.entry_point_defined is False:
        gates.append(("entry_point_missing", "test_failure"))
    return gates
