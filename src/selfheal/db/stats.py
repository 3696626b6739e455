"""The seed's statistics: summary, by task type, score distribution, failures, prompt performance."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from selfheal.db.models import ExecutionLog, Prompt, utcnow

_PASSED = func.sum(case((ExecutionLog.evaluation_passed.is_(True), 1), else_=0))


async def summary(session: AsyncSession, *, hours: int) -> dict[str, Any]:
    since = utcnow() - timedelta(hours=hours)
    total, passes, avg, avg_latency = (
        await session.execute(
            select(
                func.count(),
                _PASSED,
                func.avg(ExecutionLog.evaluation_score),
                func.avg(ExecutionLog.latency_total_ms),
            ).where(ExecutionLog.created_at >= since)
        )
    ).one()
    total = int(total or 0)
    passes = int(passes or 0)
    return {
        "hours": hours,
        "total_requests": total,
        "passed": passes,
        "failed": total - passes,
        "pass_rate": passes / total if total else 0.0,
        "avg_score": float(avg) if avg is not None else None,
        "avg_latency_ms": float(avg_latency) if avg_latency is not None else None,
    }


async def by_task_type(session: AsyncSession) -> list[dict[str, Any]]:
    rows = (
        await session.execute(
            select(
                ExecutionLog.task_type,
                func.count(),
                _PASSED,
                func.avg(ExecutionLog.evaluation_score),
            ).group_by(ExecutionLog.task_type)
        )
    ).all()
    return [
        {
            "task_type": task_type,
            "total_requests": int(total),
            "pass_rate": int(passes or 0) / int(total) if total else 0.0,
            "avg_score": float(avg) if avg is not None else None,
        }
        for task_type, total, passes, avg in rows
    ]


async def score_distribution(session: AsyncSession, *, buckets: int = 10) -> list[dict[str, Any]]:
    bucket = func.floor(ExecutionLog.evaluation_score * buckets)
    rows = (
        await session.execute(
            select(bucket.label("b"), func.count())
            .where(ExecutionLog.evaluation_score.is_not(None))
            .group_by("b")
        )
    ).all()
    counts: dict[int, int] = {}
    for b, n in rows:
        index = min(int(b), buckets - 1)  # a score of exactly 1.0 belongs to the top bucket
        counts[index] = counts.get(index, 0) + int(n)
    return [
        {"range": f"{i / buckets:.1f}-{(i + 1) / buckets:.1f}", "count": counts.get(i, 0)}
        for i in range(buckets)
    ]


async def recent_failures(session: AsyncSession, *, limit: int) -> list[dict[str, Any]]:
    rows = (
        await session.scalars(
            select(ExecutionLog)
            .where(ExecutionLog.evaluation_passed.is_(False))
            .order_by(ExecutionLog.id.desc())
            .limit(limit)
        )
    ).all()
    return [
        {
            "request_id": r.request_id,
            "task_type": r.task_type,
            "user_input": r.user_input,
            "evaluation_score": r.evaluation_score,
            "failure_category": r.failure_category,
            "status": r.status,
            "prompt_version": r.prompt_version,
            "created_at": r.created_at.isoformat(),
        }
        for r in rows
    ]


async def prompt_performance(session: AsyncSession) -> list[dict[str, Any]]:
    rows = (
        await session.execute(
            select(
                ExecutionLog.task_type,
                ExecutionLog.prompt_version,
                func.count(),
                _PASSED,
                func.avg(ExecutionLog.evaluation_score),
            )
            .where(ExecutionLog.prompt_version.is_not(None))
            .group_by(ExecutionLog.task_type, ExecutionLog.prompt_version)
            .order_by(ExecutionLog.task_type, ExecutionLog.prompt_version)
        )
    ).all()
    statuses = {
        (p.task_type, p.version): p.status for p in (await session.scalars(select(Prompt))).all()
    }
    return [
        {
            "task_type": task_type,
            "prompt_version": int(version),
            "status": statuses.get((task_type, int(version))),
            "total_requests": int(total),
            "pass_rate": int(passes or 0) / int(total) if total else 0.0,
            "avg_score": float(avg) if avg is not None else None,
        }
        for task_type, version, total, passes, avg in rows
    ]
