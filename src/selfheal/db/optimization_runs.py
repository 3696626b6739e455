"""Optimization runs: every optimizer step leaves a row."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from selfheal.db.models import OptimizationRun, RunDecision, RunKind, RunStatus, RunTrigger, utcnow


async def start(
    session: AsyncSession,
    *,
    task_type: str,
    trigger: RunTrigger,
    kind: RunKind = RunKind.OPTIMIZE,
) -> OptimizationRun:
    run = OptimizationRun(
        run_id=str(uuid.uuid4()),
        task_type=task_type,
        trigger=trigger,
        kind=kind,
        status=RunStatus.RUNNING,
    )
    session.add(run)
    await session.flush()
    return run


def finish(
    run: OptimizationRun,
    *,
    status: RunStatus,
    decision: RunDecision,
    reason: str,
    **fields: Any,
) -> None:
    run.status = status
    run.decision = decision
    run.decision_reason = reason
    run.finished_at = utcnow()
    for key, value in fields.items():
        setattr(run, key, value)


async def list_recent(
    session: AsyncSession, *, limit: int, task_type: str | None = None
) -> Sequence[OptimizationRun]:
    stmt = select(OptimizationRun).order_by(OptimizationRun.id.desc()).limit(limit)
    if task_type is not None:
        stmt = stmt.where(OptimizationRun.task_type == task_type)
    return (await session.scalars(stmt)).all()


async def get(session: AsyncSession, *, run_id: str) -> OptimizationRun | None:
    return await session.scalar(select(OptimizationRun).where(OptimizationRun.run_id == run_id))


async def awaiting_approval(session: AsyncSession, *, task_type: str) -> OptimizationRun | None:
    """The run of ``task_type`` whose winner waits for an admin, if any."""
    return await session.scalar(
        select(OptimizationRun)
        .where(
            OptimizationRun.task_type == task_type,
            OptimizationRun.kind == RunKind.OPTIMIZE,
            OptimizationRun.status == RunStatus.PENDING,
        )
        .order_by(OptimizationRun.id.desc())
        .limit(1)
    )
