"""Replay validation: is a candidate better than the incumbent on the same inputs?"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from selfheal.core.config import OptimizerSettings
from selfheal.services.optimizer.replay import ReplayOutcome


def mean_score(outcomes: Sequence[ReplayOutcome]) -> float:
    return sum(o.score for o in outcomes) / len(outcomes) if outcomes else 0.0


def pass_rate(outcomes: Sequence[ReplayOutcome]) -> float:
    return sum(o.passed for o in outcomes) / len(outcomes) if outcomes else 0.0


@dataclass(slots=True)
class Comparison:
    incumbent_mean: float
    candidate_mean: float
    improvement: float
    regressions: list[str] = field(default_factory=list)
    promotable: bool = False
    reason: str = ""


def compare(
    incumbent: Sequence[ReplayOutcome],
    candidate: Sequence[ReplayOutcome],
    settings: OptimizerSettings,
) -> Comparison:
    """Promotable only if the mean score improves by the margin and nothing that passed
    under the incumbent fails (or loses more than the tolerance) under the candidate."""
    inc = {o.key: o for o in incumbent}
    regressions = [
        o.key
        for o in candidate
        if (prev := inc.get(o.key)) is not None
        and prev.passed
        and (not o.passed or o.score < prev.score - settings.regression_tolerance - 1e-9)
    ]
    inc_mean, cand_mean = mean_score(incumbent), mean_score(candidate)
    improvement = cand_mean - inc_mean
    result = Comparison(inc_mean, cand_mean, improvement, regressions)
    if regressions:
        result.reason = f"{len(regressions)} input(s) that passed under the incumbent regress"
    elif improvement < settings.min_improvement:
        result.reason = (
            f"mean score {cand_mean:.3f} vs {inc_mean:.3f}: improvement {improvement:+.3f} is below "
            f"the required {settings.min_improvement:.3f}"
        )
    else:
        result.promotable = True
        result.reason = (
            f"mean score {inc_mean:.3f} -> {cand_mean:.3f} ({improvement:+.3f}), no regressions"
        )
    return result
