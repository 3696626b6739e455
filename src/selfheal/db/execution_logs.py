"""Execution logs: one row per request that reached the manager, failed ones included."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, case, func, select
from sqlalchemy import insert as sql_insert
from sqlalchemy.ext.asyncio import AsyncSession

from selfheal.db.models import ExecutionLog, LogStatus, utcnow
from selfheal.db.notify import notify_failure

# One Core statement, compiled once and cached: the per-request insert skips the ORM.
_INSERT = sql_insert(ExecutionLog)

# Failures that say nothing about the prompt: the judge or a service was down.
NOT_PROMPT_FAILURES = ("judge_unavailable",)


async def insert(session: AsyncSession, **fields: Any) -> None:
    """Write one log row (a Core INSERT: this is on every request's path); a prompt
    failure also notifies the optimizer (PostgreSQL, delivered at commit). The caller
    commits."""
    fields.setdefault("created_at", utcnow())
    conn = await session.connection()
    await conn.execute(_INSERT, fields)
    if (
        fields.get("status") == LogStatus.COMPLETED
        and not fields.get("evaluation_passed")
        and fields.get("failure_category") not in (None, *NOT_PROMPT_FAILURES)
    ):
        await notify_failure(session, task_type=fields["task_type"])


async def get(session: AsyncSession, *, request_id: str) -> ExecutionLog | None:
    return await session.scalar(select(ExecutionLog).where(ExecutionLog.request_id == request_id))


async def list_recent(
    session: AsyncSession,
    *,
    limit: int,
    offset: int,
    task_type: str | None = None,
    passed: bool | None = None,
) -> Sequence[ExecutionLog]:
    stmt = select(ExecutionLog).order_by(ExecutionLog.id.desc()).limit(limit).offset(offset)
    if task_type is not None:
        stmt = stmt.where(ExecutionLog.task_type == task_type)
    if passed is not None:
        stmt = stmt.where(ExecutionLog.evaluation_passed == passed)
    return (await session.scalars(stmt)).all()


def _prompt_failures(
    task_type: str, since: datetime, versions: Sequence[int] | None
) -> Select[Any]:
    """Completed requests that failed because of what the model produced."""
    stmt = select(ExecutionLog).where(
        ExecutionLog.task_type == task_type,
        ExecutionLog.evaluation_passed.is_(False),
        ExecutionLog.created_at >= since,
        ExecutionLog.status == LogStatus.COMPLETED,
        ExecutionLog.failure_category.is_not(None),
        ExecutionLog.failure_category.not_in(NOT_PROMPT_FAILURES),
    )
    if versions is not None:
        stmt = stmt.where(ExecutionLog.prompt_version.in_(versions))
    return stmt


async def count_failures(
    session: AsyncSession, *, task_type: str, since: datetime, versions: Sequence[int] | None = None
) -> int:
    """The optimizer's trigger query (served by the partial index on failures)."""
    sub = _prompt_failures(task_type, since, versions).with_only_columns(ExecutionLog.id).subquery()
    return int(await session.scalar(select(func.count()).select_from(sub)) or 0)


async def recent_failures(
    session: AsyncSession,
    *,
    task_type: str,
    since: datetime,
    versions: Sequence[int] | None = None,
    limit: int = 50,
) -> Sequence[ExecutionLog]:
    stmt = (
        _prompt_failures(task_type, since, versions).order_by(ExecutionLog.id.desc()).limit(limit)
    )
    return (await session.scalars(stmt)).all()


async def recent_passes(
    session: AsyncSession, *, task_type: str, since: datetime, limit: int
) -> Sequence[ExecutionLog]:
    stmt = (
        select(ExecutionLog)
        .where(
            ExecutionLog.task_type == task_type,
            ExecutionLog.evaluation_passed.is_(True),
            ExecutionLog.created_at >= since,
        )
        .order_by(ExecutionLog.id.desc())
        .limit(limit)
    )
    return (await session.scalars(stmt)).all()


async def version_stats(
    session: AsyncSession, *, task_type: str, since: datetime | None = None
) -> dict[int, dict[str, float]]:
    """Live requests, passes, pass rate and mean score per prompt version."""
    stmt = (
        select(
            ExecutionLog.prompt_version,
            func.count(),
            func.sum(case((ExecutionLog.evaluation_passed.is_(True), 1), else_=0)),
            func.avg(ExecutionLog.evaluation_score),
        )
        .where(
            ExecutionLog.task_type == task_type,
            ExecutionLog.status == LogStatus.COMPLETED,
            ExecutionLog.prompt_version.is_not(None),
        )
        .group_by(ExecutionLog.prompt_version)
    )
    if since is not None:
        stmt = stmt.where(ExecutionLog.created_at >= since)
    out: dict[int, dict[str, float]] = {}
    for version, total, passes, avg in (await session.execute(stmt)).all():
        out[int(version)] = {
            "requests": int(total),
            "passes": int(passes or 0),
            "pass_rate": (int(passes or 0) / int(total)) if total else 0.0,
            "avg_score": float(avg) if avg is not None else 0.0,
        }
    return out


async def latest_for_version(
    session: AsyncSession, *, task_type: str, version: int, limit: int
) -> Sequence[ExecutionLog]:
    """The newest completed requests served by one prompt version."""
    stmt = (
        select(ExecutionLog)
        .where(
            ExecutionLog.task_type == task_type,
            ExecutionLog.prompt_version == version,
            ExecutionLog.status == LogStatus.COMPLETED,
            ExecutionLog.failure_category.is_distinct_from("judge_unavailable"),
        )
        .order_by(ExecutionLog.id.desc())
        .limit(limit)
    )
    return (await session.scalars(stmt)).all()
