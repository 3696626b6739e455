"""Searching for a better prompt on the replay set.

``reflective_search`` (default): K candidates from the analysis; replay each; reflect on
what the round's best still gets wrong and refine it, for up to ``refine_rounds`` rounds.
``gepa_search`` (``OPTIMIZER_STRATEGY=gepa``) hands the same replay and reflection to the
``gepa`` library's evolutionary engine, bounded by ``OPTIMIZER_GEPA_MAX_METRIC_CALLS``.
Both return the best candidate found; the caller decides promotion against the incumbent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from selfheal.llm.schemas import FailureAnalysis
from selfheal.services.optimizer import analysis as analysis_mod
from selfheal.services.optimizer.candidates import propose
from selfheal.services.optimizer.replay import ReplayItem, ReplayOutcome, replay_all
from selfheal.services.optimizer.validation import mean_score, pass_rate


@dataclass
class Candidate:
    prompt: str
    outcomes: list[ReplayOutcome]
    rationale: str = ""


@dataclass
class SearchResult:
    best: Candidate | None
    records: list[dict[str, Any]] = field(default_factory=list)
    llm_calls: int = 0


def record(label: str, round_no: int, cand: Candidate) -> dict[str, Any]:
    """How a candidate did on every replayed input (stored in the run's row)."""
    return {
        "label": label,
        "round": round_no,
        "prompt": cand.prompt,
        "rationale": cand.rationale,
        "mean_score": round(mean_score(cand.outcomes), 4),
        "pass_rate": round(pass_rate(cand.outcomes), 4),
        "scores": {
            o.key: {
                "score": o.score,
                "passed": o.passed,
                "category": o.category,
                "origin": o.origin,
            }
            for o in cand.outcomes
        },
    }


async def reflective_search(
    deps: Any, *, task_type: str, incumbent: str, analysis: FailureAnalysis, items: list[ReplayItem]
) -> SearchResult:
    settings = deps.settings
    result = SearchResult(best=None)
    parent_prompt, current = incumbent, analysis
    seen = {incumbent.strip()}
    for round_no in range(1, settings.refine_rounds + 1):
        patches, calls = await propose(
            deps.optimizer, current_prompt=parent_prompt, analysis=current, k=settings.candidates
        )
        result.llm_calls += calls
        round_best: Candidate | None = None
        for index, patch in enumerate(patches):
            if patch.prompt.strip() in seen:
                continue
            seen.add(patch.prompt.strip())
            outcomes = await replay_all(
                deps.replayer,
                task_type,
                items,
                prompt=patch.prompt,
                concurrency=deps.replay_concurrency,
            )
            cand = Candidate(patch.prompt, outcomes, patch.rationale)
            result.records.append(record(f"round {round_no} candidate {index + 1}", round_no, cand))
            if round_best is None or mean_score(outcomes) > mean_score(round_best.outcomes) + 1e-9:
                round_best = cand
        if round_best is None:
            break  # nothing new to try
        if (
            result.best is None
            or mean_score(round_best.outcomes) > mean_score(result.best.outcomes) + 1e-9
        ):
            result.best = round_best
        if all(o.passed for o in round_best.outcomes):
            break
        # Reflect on what this round's best still gets wrong and build on it (a sideways
        # step is allowed: the final choice is the best seen over all rounds).
        parent_prompt = round_best.prompt
        counts, examples = analysis_mod.summarize_replay(round_best.outcomes, settings.max_examples)
        current, calls = await analysis_mod.analyse(
            deps.analyst,
            task_type=task_type,
            current_prompt=parent_prompt,
            counts=counts,
            examples=examples,
        )
        result.llm_calls += calls
    return result
