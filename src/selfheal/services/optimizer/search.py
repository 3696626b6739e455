"""Searching for a better prompt on the replay set.

``reflective_search`` (default): earlier versions that did well live, then K candidates
from the analysis; each is checked for generality (``guard``) and replayed; reflect on
what the round's best still gets wrong and refine it, for up to ``refine_rounds`` rounds.
``gepa_search`` (``OPTIMIZER_STRATEGY=gepa``) hands the same replay and reflection to the
``gepa`` library's evolutionary engine, bounded by ``OPTIMIZER_GEPA_MAX_METRIC_CALLS``.
Both return the best candidate found; the caller decides promotion against the incumbent.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from selfheal.core.config import OptimizerSettings
from selfheal.llm.schemas import FailureAnalysis
from selfheal.services.optimizer import analysis as analysis_mod
from selfheal.services.optimizer.candidates import propose
from selfheal.services.optimizer.deps import OptimizerDeps
from selfheal.services.optimizer.guard import rejection, task_identifiers
from selfheal.services.optimizer.history import HistoryCandidate
from selfheal.services.optimizer.replay import REPLAY_ERROR, ReplayItem, ReplayOutcome, replay_all
from selfheal.services.optimizer.validation import mean_score, pass_rate


@dataclass
class Candidate:
    prompt: str
    outcomes: list[ReplayOutcome]
    rationale: str = ""
    source: str = "optimizer"  # optimizer | history | incumbent


@dataclass
class SearchResult:
    best: Candidate | None
    records: list[dict[str, Any]] = field(default_factory=list)
    llm_calls: int = 0
    replays: int = 0


def record(label: str, round_no: int, cand: Candidate) -> dict[str, Any]:
    """How a candidate did on every replayed input (stored in the run's row)."""
    return {
        "label": label,
        "round": round_no,
        "source": cand.source,
        "prompt": cand.prompt,
        "rationale": cand.rationale,
        "mean_score": round(mean_score(cand.outcomes), 4),
        "pass_rate": round(pass_rate(cand.outcomes), 4),
        "replay_errors": sum(o.category == REPLAY_ERROR for o in cand.outcomes),
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


def rejected_record(
    label: str, round_no: int, prompt: str, source: str, why: str
) -> dict[str, Any]:
    """A candidate refused before replay (copied task text, empty, too long ...)."""
    return {"label": label, "round": round_no, "source": source, "prompt": prompt, "rejected": why}


@dataclass
class SearchInputs:
    """What a search works from, besides the deps: the incumbent, the replay set and
    earlier versions worth trying."""

    task_type: str
    incumbent: str
    analysis: FailureAnalysis
    items: list[ReplayItem]
    history: list[HistoryCandidate] = field(default_factory=list)


class CandidateGate:
    """What every search (reflection, GEPA) checks a proposed prompt against before it is
    replayed or chosen: not empty or unchanged, not too long, nothing harmful, no copied
    request text, no task-specific names (``guard.rejection``)."""

    def __init__(self, incumbent: str, items: list[ReplayItem], max_chars: int) -> None:
        self.incumbent = incumbent
        self.texts = [i.user_input for i in items] + [i.refined_input for i in items]
        self.identifiers = task_identifiers(i.entry_point for i in items)
        self.max_chars = max_chars

    def why_not(self, prompt: str) -> str | None:
        return rejection(
            prompt.strip(),
            incumbent=self.incumbent,
            task_texts=self.texts,
            identifiers=self.identifiers,
            max_chars=self.max_chars,
        )


class _Search:
    def __init__(self, deps: OptimizerDeps, inputs: SearchInputs) -> None:
        self.deps = deps
        self.settings: OptimizerSettings = deps.settings
        self.inputs = inputs
        self.result = SearchResult(best=None)
        self.seen = {inputs.incumbent.strip()}
        self.started = time.monotonic()
        self.gate = CandidateGate(inputs.incumbent, inputs.items, self.settings.max_prompt_chars)

    def out_of_budget(self) -> bool:
        return time.monotonic() - self.started >= self.settings.run_budget_s

    def admit(self, prompt: str, *, label: str, round_no: int, source: str) -> bool:
        """Whether a proposed prompt is new and general enough to be worth replaying."""
        text = prompt.strip()
        if text in self.seen:
            return False
        self.seen.add(text)
        why = self.gate.why_not(text)
        if why is not None:
            self.result.records.append(rejected_record(label, round_no, text, source, why))
            return False
        return True

    async def replay(self, cand_prompt: str) -> list[ReplayOutcome]:
        self.result.replays += len(self.inputs.items)
        return await replay_all(
            self.deps.replayer,
            self.inputs.task_type,
            self.inputs.items,
            prompt=cand_prompt,
            concurrency=self.settings.replay_concurrency,
            timeout_s=self.settings.replay_timeout_s,
        )

    def consider(self, cand: Candidate, *, label: str, round_no: int) -> None:
        self.result.records.append(record(label, round_no, cand))
        best = self.result.best
        if best is None or mean_score(cand.outcomes) > mean_score(best.outcomes) + 1e-9:
            self.result.best = cand

    def perfect(self) -> bool:
        best = self.result.best
        return best is not None and all(o.passed for o in best.outcomes)


async def reflective_search(deps: OptimizerDeps, inputs: SearchInputs) -> SearchResult:
    """History candidates first (a proven revert is cheap), then K proposals per round,
    each refined on what the round's best still gets wrong. Stops early once a candidate
    passes every replayed input or the run's time budget is spent."""
    settings: OptimizerSettings = deps.settings
    search = _Search(deps, inputs)
    for index, old in enumerate(inputs.history):
        label = f"history v{old.version}"
        if search.out_of_budget() or search.perfect():
            break
        if search.admit(old.content, label=label, round_no=0, source="history"):
            outcomes = await search.replay(old.content)
            search.consider(
                Candidate(old.content, outcomes, old.rationale, "history"), label=label, round_no=0
            )
        del index
    parent_prompt, current = inputs.incumbent, inputs.analysis
    for round_no in range(1, settings.refine_rounds + 1):
        if search.perfect() or search.out_of_budget():
            break
        patches, calls = await propose(
            deps.optimizer,
            current_prompt=parent_prompt,
            analysis=current,
            k=settings.candidates,
            settings=settings,
        )
        search.result.llm_calls += calls
        round_best: Candidate | None = None
        for index, patch in enumerate(patches):
            label = f"round {round_no} candidate {index + 1}"
            if search.out_of_budget():
                break
            if not search.admit(patch.prompt, label=label, round_no=round_no, source="optimizer"):
                continue
            cand = Candidate(patch.prompt, await search.replay(patch.prompt), patch.rationale)
            search.consider(cand, label=label, round_no=round_no)
            if (
                round_best is None
                or mean_score(cand.outcomes) > mean_score(round_best.outcomes) + 1e-9
            ):
                round_best = cand
            if all(o.passed for o in cand.outcomes):
                break
        if round_best is None or search.perfect() or round_no == settings.refine_rounds:
            break
        # Reflect on what this round's best still gets wrong and build on it (a sideways
        # step is allowed: the final choice is the best seen over all rounds).
        parent_prompt = round_best.prompt
        counts, examples = analysis_mod.summarize_replay(round_best.outcomes, settings.max_examples)
        current, calls = await analysis_mod.analyse(
            deps.analyst,
            task_type=inputs.task_type,
            current_prompt=parent_prompt,
            counts=counts,
            examples=examples,
            settings=settings,
        )
        search.result.llm_calls += calls
    return search.result
