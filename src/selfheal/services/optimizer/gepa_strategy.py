"""The GEPA strategy: the `gepa` library's reflective evolutionary search over our own
worker + evaluator (replay) and our own analyst/optimizer roles (reflection).

GEPA's engine is synchronous; it runs in a worker thread and calls back into the event
loop for every replay and reflection, so the service's loop is never blocked.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Mapping, Sequence
from typing import Any, TypeVar, cast

from selfheal.services.optimizer import analysis as analysis_mod
from selfheal.services.optimizer.candidates import propose
from selfheal.services.optimizer.deps import OptimizerDeps
from selfheal.services.optimizer.replay import ReplayItem, ReplayOutcome, replay_all
from selfheal.services.optimizer.search import (
    Candidate,
    CandidateGate,
    SearchResult,
    record,
    rejected_record,
)

log = logging.getLogger(__name__)
COMPONENT = "system_prompt"
T = TypeVar("T")


class _Log:
    def log(self, message: str) -> None:
        log.debug("gepa: %s", message)


class SelfhealAdapter:
    """gepa.GEPAAdapter over replay (evaluate) and our reflection roles (propose_new_texts)."""

    def __init__(
        self,
        deps: OptimizerDeps,
        task_type: str,
        loop: asyncio.AbstractEventLoop,
        gate: CandidateGate,
    ) -> None:
        self.deps = deps
        self.task_type = task_type
        self.loop = loop
        self.gate = gate
        self.llm_calls = 0
        self.evaluated: dict[str, list[ReplayOutcome]] = {}
        self.rejected: list[dict[str, Any]] = []  # proposals the gate refused, never replayed

    def _wait(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def evaluate(
        self, batch: list[ReplayItem], candidate: dict[str, str], capture_traces: bool = False
    ) -> Any:
        from gepa.core.adapter import EvaluationBatch

        prompt = candidate[COMPONENT]
        outcomes = self._wait(
            replay_all(
                self.deps.replayer,
                self.task_type,
                batch,
                prompt=prompt,
                concurrency=self.deps.settings.replay_concurrency,
                timeout_s=self.deps.settings.replay_timeout_s,
            )
        )
        known = {o.key: o for o in self.evaluated.get(prompt, [])}
        known.update({o.key: o for o in outcomes})
        self.evaluated[prompt] = list(known.values())
        return EvaluationBatch(
            outputs=[o.output_excerpt for o in outcomes],
            scores=[o.score for o in outcomes],
            trajectories=list(outcomes) if capture_traces else None,
        )

    def make_reflective_dataset(
        self, candidate: dict[str, str], eval_batch: Any, components_to_update: list[str]
    ) -> Mapping[str, Sequence[Mapping[str, Any]]]:
        records = [
            {
                "Inputs": {"user_input": o.user_input},
                "Generated Outputs": o.output_excerpt,
                "Feedback": {
                    "category": o.category,
                    "score": o.score,
                    "failed_tests": o.failed_tests,
                    "entry_point_defined": o.entry_point_defined,
                },
            }
            for o in (eval_batch.trajectories or [])
            if not o.passed
        ]
        return {COMPONENT: records}

    def propose_new_texts(
        self,
        candidate: dict[str, str],
        reflective_dataset: Mapping[str, Sequence[Mapping[str, Any]]],
        components_to_update: list[str],
    ) -> dict[str, str]:
        examples = [
            {
                "category": r["Feedback"]["category"],
                "user_input": r["Inputs"]["user_input"],
                "score": r["Feedback"]["score"],
                "failed_tests": r["Feedback"]["failed_tests"],
                "output_excerpt": r["Generated Outputs"],
                "entry_point_defined": r["Feedback"]["entry_point_defined"],
            }
            for r in reflective_dataset.get(COMPONENT, [])
        ]
        counts: dict[str, int] = {}
        for ex in examples:
            counts[str(ex["category"])] = counts.get(str(ex["category"]), 0) + 1
        current = candidate[COMPONENT]
        analysis, calls = self._wait(
            analysis_mod.analyse(
                self.deps.analyst,
                task_type=self.task_type,
                current_prompt=current,
                counts=counts,
                examples=analysis_mod.representative(examples, self.deps.settings.max_examples),
                settings=self.deps.settings,
            )
        )
        patches, more = self._wait(
            propose(
                self.deps.optimizer,
                current_prompt=current,
                analysis=analysis,
                k=1,
                settings=self.deps.settings,
            )
        )
        self.llm_calls += calls + more
        if not patches:
            return {COMPONENT: current}
        proposed = patches[0].prompt
        why = self.gate.why_not(proposed)
        if why is not None:  # as the reflective search does: refused before any replay
            label = f"gepa proposal {len(self.rejected)}"
            self.rejected.append(rejected_record(label, 0, proposed, "gepa", why))
            return {COMPONENT: current}
        return {COMPONENT: proposed}


async def gepa_search(
    deps: OptimizerDeps, *, task_type: str, incumbent: str, items: list[ReplayItem]
) -> SearchResult:
    """Run GEPA from the incumbent, bounded by the metric-call budget; return its best."""
    from gepa.api import optimize

    gate = CandidateGate(incumbent, items, deps.settings.max_prompt_chars)
    adapter = SelfhealAdapter(deps, task_type, asyncio.get_running_loop(), gate)

    def run() -> Any:
        return optimize(
            seed_candidate={COMPONENT: incumbent},
            trainset=items,
            valset=items,
            adapter=cast(Any, adapter),
            max_metric_calls=deps.settings.gepa_max_metric_calls,
            reflection_minibatch_size=min(3, len(items)),
            candidate_selection_strategy="pareto",
            logger=_Log(),
            display_progress_bar=False,
            raise_on_exception=True,
            seed=0,
        )

    outcome = await asyncio.to_thread(run)
    result = SearchResult(best=None, llm_calls=adapter.llm_calls, records=adapter.rejected)
    for index, cand in enumerate(outcome.candidates):
        prompt = cand[COMPONENT]
        if prompt.strip() == incumbent.strip():
            continue
        if gate.why_not(prompt) is not None:  # never chosen, whatever it scored
            continue
        outcomes = adapter.evaluated.get(prompt) or []
        if len(outcomes) < len(items):  # GEPA saw a minibatch only: score it on the whole set
            outcomes = await replay_all(
                deps.replayer,
                task_type,
                items,
                prompt=prompt,
                concurrency=deps.settings.replay_concurrency,
                timeout_s=deps.settings.replay_timeout_s,
            )
        entry = Candidate(prompt, outcomes, "gepa")
        result.records.append(record(f"gepa candidate {index}", index, entry))
        if result.best is None or sum(o.score for o in outcomes) > sum(
            o.score for o in result.best.outcomes
        ):
            result.best = entry
    return result
