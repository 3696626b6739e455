"""Putting a validated prompt live (direct or canary), watching it, rolling it back."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from selfheal.core import metrics
from selfheal.core.config import OptimizerSettings
from selfheal.core.errors import ConflictError, NotFoundError
from selfheal.db import execution_logs, optimization_runs
from selfheal.db import prompts as prompt_repo
from selfheal.db.models import (
    OptimizationRun,
    Prompt,
    PromptAuthor,
    PromptStatus,
    RunDecision,
    RunKind,
    RunStatus,
    RunTrigger,
)

log = logging.getLogger(__name__)


def live_decision(settings: OptimizerSettings) -> RunDecision:
    """How a winner goes live under ``OPTIMIZER_ROLLOUT``."""
    return RunDecision.CANARY if settings.rollout == "canary" else RunDecision.PROMOTED


async def promote(
    session: AsyncSession,
    *,
    task_type: str,
    content: str,
    parent_version: int | None,
    reason: str,
    settings: OptimizerSettings,
) -> Prompt:
    """Store the winner as a new version and make it live (directly or as a canary), or,
    with ``OPTIMIZER_APPROVAL=admin``, keep it a candidate until an admin approves it."""
    prompt = await prompt_repo.create_version(
        session,
        task_type=task_type,
        content=content,
        author=PromptAuthor.OPTIMIZER.value,
        reason=reason,
        parent_version=parent_version,
    )
    if settings.approval == "auto":
        await go_live(session, prompt, settings=settings)
    return prompt


async def go_live(session: AsyncSession, prompt: Prompt, *, settings: OptimizerSettings) -> None:
    """Serve a stored version: as a canary beside the active prompt, or as the active one."""
    if settings.rollout == "canary":
        await prompt_repo.start_canary(
            session, task_type=prompt.task_type, version=prompt.version, share=settings.canary_share
        )
    else:
        await prompt_repo.activate(session, task_type=prompt.task_type, version=prompt.version)
        metrics.ACTIVE_PROMPT_VERSION.labels(prompt.task_type, "active").set(prompt.version)


async def _pending_run(session: AsyncSession, run_id: str) -> tuple[OptimizationRun, Prompt]:
    run = await optimization_runs.get(session, run_id=run_id)
    if run is None or run.kind != RunKind.OPTIMIZE:
        raise NotFoundError(f"no optimization run {run_id!r}")
    if run.status != RunStatus.PENDING or run.new_version is None:
        raise ConflictError(f"run {run_id} is not awaiting approval (its status is {run.status!r})")
    prompt = await prompt_repo.get_version(
        session, task_type=run.task_type, version=run.new_version
    )
    if prompt is None:  # pragma: no cover - the run names a version it stored
        raise NotFoundError(f"run {run_id} names version {run.new_version}, which is gone")
    return run, prompt


async def approve(
    session: AsyncSession, *, run_id: str, settings: OptimizerSettings
) -> OptimizationRun:
    """An admin's yes to a held candidate: it goes live as the run would have put it. Refused
    when the live prompt has changed since the run proved it against the incumbent (flushes;
    the caller commits)."""
    run, prompt = await _pending_run(session, run_id)
    await prompt_repo.lock_writes(session, task_type=run.task_type)
    active = await prompt_repo.get_active(session, task_type=run.task_type)
    if active is None or active.version != run.incumbent_version:
        live = active.version if active else None
        raise ConflictError(
            f"the live prompt of {run.task_type!r} changed since run {run_id} (v"
            f"{run.incumbent_version} then, v{live} now): its candidate was proven against a "
            "prompt that is no longer live; reject it and let the optimizer run again"
        )
    await go_live(session, prompt, settings=settings)
    run.status = RunStatus.PROMOTED
    run.decision = live_decision(settings)
    run.decision_reason = f"{run.decision_reason}; approved by an admin"[:2000]
    await session.flush()
    log.warning("an admin approved v%s for %s (run %s)", prompt.version, run.task_type, run_id)
    return run


async def reject(session: AsyncSession, *, run_id: str, reason: str) -> OptimizationRun:
    """An admin's no: the held candidate is rejected and the run closed (flushes)."""
    run, prompt = await _pending_run(session, run_id)
    await prompt_repo.set_status(session, prompt=prompt, status=PromptStatus.REJECTED)
    run.status = RunStatus.REJECTED
    run.decision = RunDecision.REJECTED_BY_ADMIN
    run.decision_reason = f"rejected by an admin: {reason}"[:2000]
    await session.flush()
    return run


async def rollback(
    session: AsyncSession,
    *,
    task_type: str,
    to_version: int | None,
    reason: str,
    trigger: RunTrigger,
) -> tuple[Prompt, OptimizationRun]:
    """Re-activate ``to_version`` (default: the version live before the current one); returns
    it and the rollback run it leaves (flushes; the caller commits)."""
    await prompt_repo.lock_writes(session, task_type=task_type)
    active = await prompt_repo.get_active(session, task_type=task_type)
    if active is None:
        raise ConflictError(f"task type {task_type!r} has no active prompt to roll back")
    target = to_version or await prompt_repo.previous_active_version(
        session, task_type=task_type, current=active
    )
    if target is None:
        raise ConflictError(f"task type {task_type!r} has no earlier version to roll back to")
    if target == active.version:
        raise ConflictError(f"version {target} is already active")
    run = await optimization_runs.start(
        session, task_type=task_type, trigger=trigger, kind=RunKind.ROLLBACK
    )
    restored = await prompt_repo.activate(session, task_type=task_type, version=target)
    optimization_runs.finish(
        run,
        status=RunStatus.ROLLED_BACK,
        decision=RunDecision.ROLLBACK,
        reason=reason,
        incumbent_version=active.version,
        new_version=target,
    )
    await session.flush()
    metrics.ROLLBACKS.labels(task_type, trigger).inc()
    metrics.ACTIVE_PROMPT_VERSION.labels(task_type, "active").set(target)
    log.warning("rolled back %s from v%s to v%s: %s", task_type, active.version, target, reason)
    return restored, run


def _rate(rows: list[bool]) -> float:
    return sum(rows) / len(rows) if rows else 0.0


async def monitor(
    session: AsyncSession, *, task_type: str, settings: OptimizerSettings
) -> OptimizationRun | None:
    """Decide a canary on live results; roll back a promoted version that regresses live.
    Returns the run that records the decision (flushes; the caller commits when a run is
    returned)."""
    active, canary = await prompt_repo.get_live(session, task_type=task_type)
    if canary is not None:
        rows = await execution_logs.latest_for_version(
            session, task_type=task_type, version=canary.version, limit=settings.rollback_window
        )
        if len(rows) < settings.canary_min_requests:
            return None
        canary_rate = _rate([r.evaluation_passed for r in rows])
        base_rate = 0.0
        if active is not None:
            base = await execution_logs.latest_for_version(
                session, task_type=task_type, version=active.version, limit=settings.rollback_window
            )
            base_rate = _rate([r.evaluation_passed for r in base])
        run = await optimization_runs.start(
            session, task_type=task_type, trigger=RunTrigger.MONITOR, kind=RunKind.CANARY
        )
        rates = f"canary pass rate {canary_rate:.2f}"
        if canary_rate + 1e-9 >= base_rate - settings.rollback_margin:
            await prompt_repo.activate(session, task_type=task_type, version=canary.version)
            status, decision = RunStatus.PROMOTED, RunDecision.CANARY_PROMOTED
            reason = f"{rates} vs active {base_rate:.2f} over {len(rows)} requests"
            metrics.ACTIVE_PROMPT_VERSION.labels(task_type, "active").set(canary.version)
        else:
            await prompt_repo.set_status(session, prompt=canary, status=PromptStatus.REJECTED)
            status, decision = RunStatus.REJECTED, RunDecision.CANARY_REJECTED
            reason = f"{rates} below active {base_rate:.2f} - margin"
        optimization_runs.finish(
            run,
            status=status,
            decision=decision,
            reason=reason,
            incumbent_version=active.version if active else None,
            new_version=canary.version,
        )
        await session.flush()
        log.warning("canary decision for %s v%s: %s", task_type, canary.version, decision)
        return run
    if active is None or active.author != PromptAuthor.OPTIMIZER or active.parent_version is None:
        return None
    rows = await execution_logs.latest_for_version(
        session, task_type=task_type, version=active.version, limit=settings.rollback_window
    )
    if len(rows) < settings.rollback_window:
        return None
    parent_rows = await execution_logs.latest_for_version(
        session, task_type=task_type, version=active.parent_version, limit=settings.rollback_window
    )
    if len(parent_rows) < settings.canary_min_requests:
        return None
    live, before = (
        _rate([r.evaluation_passed for r in rows]),
        _rate([r.evaluation_passed for r in parent_rows]),
    )
    if live < before - settings.rollback_margin:
        reason = (
            f"live pass rate {live:.2f} over {len(rows)} requests fell below v{active.parent_version}'s "
            f"{before:.2f} by more than {settings.rollback_margin:.2f}"
        )
        _, run = await rollback(
            session,
            task_type=task_type,
            to_version=active.parent_version,
            reason=reason,
            trigger=RunTrigger.MONITOR,
        )
        return run
    return None
