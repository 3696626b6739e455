"""One optimization run, start to finish (SPEC §4):

trigger check -> lock -> analyse live failures -> K candidates by reflection -> replay
each against the incumbent (refining the best on what still fails) -> promote or
reject -> an ``optimization_runs`` row with every score.
"""

from __future__ import annotations

import logging
import math
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from selfheal.core import metrics
from selfheal.core.config import OptimizerSettings
from selfheal.db import execution_logs, optimization_runs
from selfheal.db import prompts as prompt_repo
from selfheal.db.models import (
    OptimizationRun,
    Prompt,
    RunDecision,
    RunKind,
    RunStatus,
    RunTrigger,
    utcnow,
)
from selfheal.services.optimizer import analysis as analysis_mod
from selfheal.services.optimizer.deps import OptimizerDeps
from selfheal.services.optimizer.gepa_strategy import gepa_search
from selfheal.services.optimizer.golden import load_golden
from selfheal.services.optimizer.history import history_candidates
from selfheal.services.optimizer.lock import task_lock
from selfheal.services.optimizer.replay import ReplayItem, replay_all
from selfheal.services.optimizer.report import RunReport
from selfheal.services.optimizer.rollout import live_decision, promote
from selfheal.services.optimizer.search import (
    Candidate,
    SearchInputs,
    record,
    reflective_search,
)
from selfheal.services.optimizer.validation import compare

log = logging.getLogger(__name__)


async def failure_window_start(
    session: AsyncSession, *, task_type: str, lookback_minutes: int
) -> Any:
    """Failures count from the later of (now - lookback) and the end of the last finished run,
    so failures already acted upon never re-trigger."""
    since = utcnow() - timedelta(minutes=lookback_minutes)
    last = await session.scalar(
        select(OptimizationRun.finished_at)
        .where(
            OptimizationRun.task_type == task_type,
            OptimizationRun.kind == RunKind.OPTIMIZE,
            OptimizationRun.finished_at.is_not(None),
            OptimizationRun.status != RunStatus.FAILED,
        )
        .order_by(OptimizationRun.finished_at.desc())
        .limit(1)
    )
    if last is not None:
        if last.tzinfo is None:
            last = last.replace(tzinfo=since.tzinfo)
        since = max(since, last)
    return since


async def due_failures(
    session: AsyncSession, *, task_type: str, settings: OptimizerSettings
) -> tuple[int, list[int]]:
    """(failures of the live prompt versions in the window, those versions)."""
    active, canary = await prompt_repo.get_live(session, task_type=task_type)
    versions = [p.version for p in (active, canary) if p is not None]
    if not versions:
        return 0, []
    since = await failure_window_start(
        session, task_type=task_type, lookback_minutes=settings.lookback_minutes
    )
    count = await execution_logs.count_failures(
        session, task_type=task_type, since=since, versions=versions
    )
    return count, versions


async def failure_backoff(
    session: AsyncSession, *, task_type: str, settings: OptimizerSettings
) -> float:
    """Seconds the watcher still waits before another run of ``task_type`` (0: none).

    Read from ``optimization_runs`` (so it holds across restarts and replicas): after n
    failed runs in a row the wait is ``failure_backoff_s * 2**(n-1)``, capped at
    ``failure_backoff_max_s``, counted from the last failure's end.
    """
    if settings.failure_backoff_s <= 0:
        return 0.0
    cap = max(settings.failure_backoff_max_s, settings.failure_backoff_s)
    # Enough rows for the doubling to reach the cap; more would not lengthen the wait.
    limit = 1 + max(0, math.ceil(math.log2(cap / settings.failure_backoff_s)))
    rows = (
        await session.execute(
            select(OptimizationRun.status, OptimizationRun.finished_at)
            .where(
                OptimizationRun.task_type == task_type,
                OptimizationRun.kind == RunKind.OPTIMIZE,
                OptimizationRun.finished_at.is_not(None),
            )
            .order_by(OptimizationRun.finished_at.desc())
            .limit(limit)
        )
    ).all()
    failures = next((i for i, row in enumerate(rows) if row.status != RunStatus.FAILED), len(rows))
    if failures == 0:
        return 0.0
    last: datetime = rows[0].finished_at
    if last.tzinfo is None:
        last = last.replace(tzinfo=UTC)
    wait = min(settings.failure_backoff_s * 2.0 ** (failures - 1), cap)
    return max(0.0, wait - (utcnow() - last).total_seconds())


def _unique(rows: list[Any], limit: int) -> list[Any]:
    seen, out = set(), []
    for row in rows:
        key = (row.user_input, row.tests, row.entry_point)
        if key not in seen:
            seen.add(key)
            out.append(row)
        if len(out) >= limit:
            break
    return out


async def replay_set(
    session: AsyncSession, *, task_type: str, versions: list[int], settings: OptimizerSettings
) -> tuple[list[ReplayItem], list[Any]]:
    since = utcnow() - timedelta(minutes=settings.lookback_minutes)
    failing_rows = list(
        await execution_logs.recent_failures(
            session, task_type=task_type, since=since, versions=versions, limit=200
        )
    )
    failing = _unique(failing_rows, settings.replay_failing_sample)
    passing_rows = list(
        await execution_logs.recent_passes(
            session, task_type=task_type, since=since - timedelta(days=7), limit=200
        )
    )
    fail_keys = {(r.user_input, r.tests, r.entry_point) for r in failing}
    passing = [
        r
        for r in _unique(passing_rows, 50)
        if (r.user_input, r.tests, r.entry_point) not in fail_keys
    ]
    rng = random.Random(len(passing_rows))
    passing = rng.sample(passing, min(settings.replay_passing_sample, len(passing)))
    items = [ReplayItem.from_log(r, "failing") for r in failing] + [
        ReplayItem.from_log(r, "passing") for r in passing
    ]
    return items + load_golden(settings.golden_dir, task_type), failing_rows


async def run_optimization(
    deps: OptimizerDeps, *, task_type: str, trigger: RunTrigger, force: bool = False
) -> RunReport:
    """Run one optimization of ``task_type`` now; returns the run's report."""
    settings = deps.settings
    async with task_lock(deps.engine, task_type) as acquired:
        if not acquired:
            log.info("optimizer for %s already running; skipping", task_type)
            return RunReport.skipped(
                task_type,
                RunDecision.LOCKED,
                "another optimizer run holds the lock for this task type",
            )
        async with deps.sessionmaker() as session:
            count, versions = await due_failures(session, task_type=task_type, settings=settings)
            active = await prompt_repo.get_active(session, task_type=task_type)
            if active is None:
                return RunReport.skipped(
                    task_type,
                    RunDecision.NO_PROMPT,
                    f"task type {task_type!r} has no active prompt",
                )
            held = await optimization_runs.awaiting_approval(session, task_type=task_type)
            if held is not None:
                return RunReport.skipped(
                    task_type,
                    RunDecision.AWAITING_APPROVAL,
                    f"run {held.run_id} holds v{held.new_version} for an admin's approval; "
                    "approve or reject it first",
                )
            if count < settings.failure_threshold and not force:
                threshold = settings.failure_threshold
                log.info(
                    "nothing to optimize for %s: %d failure(s) in the window, threshold %d",
                    *(task_type, count, threshold),
                )
                return RunReport.skipped(
                    task_type,
                    RunDecision.NOT_DUE,
                    f"{count} failure(s) in the window; threshold is {threshold}",
                    failure_count=count,
                )
            run = await optimization_runs.start(session, task_type=task_type, trigger=trigger)
            run.failure_count = count
            run.incumbent_version = active.version
            await session.commit()
            try:
                await _optimize(deps, session, run=run, incumbent=active, versions=versions)
            except Exception as exc:  # any failure is recorded as one failed run, then backed off
                log.exception("optimizer run %s failed", run.run_id)
                await session.rollback()
                optimization_runs.finish(
                    run,
                    status=RunStatus.FAILED,
                    decision=RunDecision.ERROR,
                    reason=str(exc),
                    error=f"{type(exc).__name__}: {exc}",
                )
            await session.commit()
            metrics.OPTIMIZER_RUNS.labels(task_type, trigger, run.decision or "none").inc()
            return RunReport.of(run)


async def _optimize(
    deps: OptimizerDeps,
    session: AsyncSession,
    *,
    run: OptimizationRun,
    incumbent: Prompt,
    versions: list[int],
) -> None:
    settings = deps.settings
    task_type = run.task_type
    items, failing_rows = await replay_set(
        session, task_type=task_type, versions=versions, settings=settings
    )
    counts, examples = analysis_mod.summarize_logs(failing_rows, settings.max_examples)
    llm_calls = 0
    found, calls = await analysis_mod.analyse(
        deps.analyst,
        task_type=task_type,
        current_prompt=incumbent.content,
        counts=counts,
        examples=examples,
        settings=settings,
    )
    llm_calls += calls
    run.analysis = {"failure_counts": counts, "examples": examples, **found.model_dump()}
    history = await history_candidates(
        session, task_type=task_type, incumbent_version=incumbent.version, settings=settings
    )
    await session.commit()  # release the connection (SQLite's lock too) during the replays
    if not items:
        optimization_runs.finish(
            run,
            status=RunStatus.REJECTED,
            decision=RunDecision.NO_REPLAY_SET,
            reason="no logged inputs to validate candidates on",
            llm_calls=llm_calls,
        )
        return
    incumbent_outcomes = await replay_all(
        deps.replayer,
        task_type,
        items,
        prompt=incumbent.content,
        concurrency=settings.replay_concurrency,
        timeout_s=settings.replay_timeout_s,
    )
    if settings.strategy == "gepa":
        searched = await gepa_search(
            deps, task_type=task_type, incumbent=incumbent.content, items=items
        )
    else:
        searched = await reflective_search(
            deps,
            SearchInputs(
                task_type=task_type,
                incumbent=incumbent.content,
                analysis=found,
                items=items,
                history=history,
            ),
        )
    run.candidates = [
        record(
            f"incumbent v{incumbent.version}",
            0,
            Candidate(incumbent.content, incumbent_outcomes, source="incumbent"),
        ),
        *searched.records,
    ]
    run.llm_calls = llm_calls + searched.llm_calls
    best = searched.best
    if best is None:
        optimization_runs.finish(
            run,
            status=RunStatus.REJECTED,
            decision=RunDecision.NO_CANDIDATE,
            reason="the optimizer proposed no new prompt",
        )
        return
    verdict = compare(incumbent_outcomes, best.outcomes, settings)
    run.improvement_pct = round(verdict.improvement * 100, 2)
    if not verdict.promotable:
        optimization_runs.finish(
            run, status=RunStatus.REJECTED, decision=RunDecision.REJECTED, reason=verdict.reason
        )
        log.warning("optimizer rejected the best candidate for %s: %s", task_type, verdict.reason)
        return
    prompt = await promote(
        session,
        task_type=task_type,
        content=best.prompt,
        parent_version=incumbent.version,
        reason=f"{found.summary}; {best.rationale}"[:2000],
        settings=settings,
    )
    if settings.approval == "admin":
        optimization_runs.finish(
            run,
            status=RunStatus.PENDING,
            decision=RunDecision.AWAITING_APPROVAL,
            new_version=prompt.version,
            reason=f"{verdict.reason}; held for an admin's approval (OPTIMIZER_APPROVAL=admin)",
        )
        log.warning(
            "optimizer holds v%s for %s for approval: %s",
            *(prompt.version, task_type, verdict.reason),
        )
        return
    decision = live_decision(settings)
    optimization_runs.finish(
        run,
        status=RunStatus.PROMOTED,
        decision=decision,
        reason=verdict.reason,
        new_version=prompt.version,
    )
    log.warning("optimizer %s v%s for %s: %s", decision, prompt.version, task_type, verdict.reason)


async def task_types(session: AsyncSession) -> list[str]:
    return sorted({p.task_type for p in await prompt_repo.list_active(session)})


async def run_due(
    deps: OptimizerDeps, *, trigger: RunTrigger, task_type: str | None = None, force: bool = False
) -> list[RunReport]:
    """Optimize every task type whose failures crossed the threshold (or the one given)."""
    async with deps.sessionmaker() as session:
        names = [task_type] if task_type else await task_types(session)
    return [
        await run_optimization(deps, task_type=name, trigger=trigger, force=force) for name in names
    ]
