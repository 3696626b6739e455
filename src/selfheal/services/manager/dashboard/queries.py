"""What the dashboard shows, aggregated in SQL and paginated, so the page costs the same
with a thousand execution logs or a million: every query reads a time window, an
index range or one page of rows (``selfheal bench dashboard`` times them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Integer, and_, case, cast, func, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession

from selfheal.db.models import (
    ExecutionLog,
    LogStatus,
    OptimizationRun,
    Prompt,
    PromptAuthor,
    RunDecision,
    RunKind,
    utcnow,
)
from selfheal.db.types import SafeText
from selfheal.services.manager.dashboard import version_stats
from selfheal.services.manager.schemas import LiveVersion, SystemStatus

_LOG = ExecutionLog
_PASSED = func.sum(case((_LOG.evaluation_passed.is_(True), 1), else_=0))
# Decisions that changed which prompt serves traffic (a marker on the charts).
VERSION_CHANGES = (
    RunDecision.PROMOTED,
    RunDecision.CANARY,
    RunDecision.CANARY_PROMOTED,
    RunDecision.ROLLBACK,
)
EXCERPT_CHARS = 240


def _epoch(session: AsyncSession) -> ColumnElement[Any]:
    """``created_at`` as Unix seconds, in the dialect at hand."""
    if session.get_bind().dialect.name == "sqlite":
        return (func.julianday(_LOG.created_at) - 2440587.5) * 86400.0
    return func.extract("epoch", _LOG.created_at)


def _aware(value: datetime | None) -> datetime | None:
    """SQLite hands timestamps back naive; they were written in UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


@dataclass(frozen=True, slots=True)
class Window:
    start: datetime
    end: datetime
    bucket_s: int


async def window(session: AsyncSession, *, hours: float, buckets: int = 60) -> Window:
    """The charts' time range: the last ``hours``, narrowed to where data begins (an index
    lookup), cut into ``buckets`` equal buckets of at least one second."""
    end = utcnow()
    since = end - timedelta(hours=hours)
    first = await session.scalar(select(func.min(_LOG.created_at)).where(_LOG.created_at >= since))
    start = _aware(first) or since
    span = max((end - start).total_seconds(), 1.0)
    return Window(start=start, end=end, bucket_s=max(1, int(span / buckets) + 1))


async def timeline(session: AsyncSession, *, win: Window) -> dict[str, list[dict[str, Any]]]:
    """Per task type and time bucket: requests, pass rate and mean score of completed requests."""
    bucket = cast(func.floor(_epoch(session) / win.bucket_s), Integer).label("bucket")
    rows = (
        await session.execute(
            select(_LOG.task_type, bucket, func.count(), _PASSED, func.avg(_LOG.evaluation_score))
            .where(_LOG.created_at >= win.start, _LOG.status == LogStatus.COMPLETED)
            # bucket first and no ORDER BY: grouped by task_type first, SQLite would walk
            # a task_type index over the whole table instead of the window's range
            .group_by(bucket, _LOG.task_type)
        )
    ).all()
    rows = sorted(rows, key=lambda r: (r[0], r[1]))
    out: dict[str, list[dict[str, Any]]] = {}
    for task_type, b, total, passes, avg in rows:
        out.setdefault(task_type, []).append(
            {
                "t": int(b) * win.bucket_s,
                "requests": int(total),
                "pass_rate": int(passes or 0) / int(total),
                "avg_score": float(avg) if avg is not None else None,
            }
        )
    return out


async def version_events(session: AsyncSession, *, since: datetime) -> list[dict[str, Any]]:
    """Every change of the serving prompt since ``since``: who (seed, human, optimizer,
    rollback) and why; the charts draw them as markers."""
    runs = (
        await session.execute(
            select(
                OptimizationRun.task_type,
                OptimizationRun.kind,
                OptimizationRun.trigger,
                OptimizationRun.decision,
                OptimizationRun.decision_reason,
                OptimizationRun.new_version,
                OptimizationRun.finished_at,
            )
            .where(
                OptimizationRun.decision.in_(VERSION_CHANGES),
                OptimizationRun.new_version.is_not(None),
                OptimizationRun.finished_at >= since,
            )
            .order_by(OptimizationRun.finished_at)
        )
    ).all()
    events = [
        {
            "task_type": r.task_type,
            "t": _aware(r.finished_at).timestamp(),  # type: ignore[union-attr]
            "version": r.new_version,
            "who": "rollback" if r.kind == RunKind.ROLLBACK else "optimizer",
            "how": f"{r.decision} ({r.trigger})",
            "why": r.decision_reason or "",
        }
        for r in runs
    ]
    people = (
        await session.execute(
            select(
                Prompt.task_type, Prompt.version, Prompt.author, Prompt.reason, Prompt.created_at
            ).where(
                Prompt.author.in_((PromptAuthor.SEED.value, PromptAuthor.HUMAN.value)),
                Prompt.activated_at.is_not(None),
                Prompt.created_at >= since,
            )
        )
    ).all()
    events += [
        {
            "task_type": p.task_type,
            "t": _aware(p.created_at).timestamp(),  # type: ignore[union-attr]
            "version": p.version,
            "who": p.author,
            "how": "activated",
            "why": p.reason or "",
        }
        for p in people
    ]
    return sorted(events, key=lambda e: e["t"])


async def task_types(session: AsyncSession) -> list[str]:
    """Task types that have prompts (a small table; never a scan of the logs)."""
    return list((await session.scalars(select(Prompt.task_type).distinct())).all())


def _request_columns() -> list[Any]:
    tests_origin = _LOG.evaluation_detail["tests_origin"].as_string()
    # What one request cost in model calls: the refiner when it was asked (it takes time;
    # a skipped refine leaves latency 0), the worker, the test writer when the request
    # brought no tests, and the judge when there was code and the verdict was not already
    # decided without it.
    judge_skipped = _LOG.evaluation_detail["judge"]["skipped"].as_string()
    llm_calls = (
        case((_LOG.latency_refine_ms > 0, 1), else_=0)
        + case((_LOG.worker_output.is_not(None), 1), else_=0)
        + case((tests_origin == "generated", 1), else_=0)
        + case((and_(_LOG.code.is_not(None), judge_skipped.is_(None)), 1), else_=0)
    )
    return [
        _LOG.id,
        _LOG.request_id,
        _LOG.task_type,
        _LOG.status,
        _LOG.evaluation_passed,
        _LOG.evaluation_score,
        _LOG.failure_category,
        _LOG.prompt_version,
        _LOG.provider,
        _LOG.model,
        _LOG.input_tokens,
        _LOG.output_tokens,
        _LOG.latency_total_ms,
        _LOG.created_at,
        _excerpt(_LOG.user_input).label("input_excerpt"),
        _excerpt(_LOG.worker_output).label("output_excerpt"),
        _excerpt(_LOG.error).label("error_excerpt"),
        cast(llm_calls, Integer).label("llm_calls"),
    ]


def _excerpt(column: Any) -> ColumnElement[str]:
    # Typed as the column so that PostgreSQL's escaped NUL reads back as NUL (db.types).
    return type_coerce(func.substr(column, 1, EXCERPT_CHARS), SafeText())


async def requests_page(
    session: AsyncSession, *, failed_only: bool, before_id: int | None, limit: int
) -> list[dict[str, Any]]:
    """One page of requests, newest first (keyset: ``id < before_id``), with excerpts only."""
    stmt = select(*_request_columns()).order_by(_LOG.id.desc()).limit(limit)
    if failed_only:
        stmt = stmt.where(_LOG.evaluation_passed.is_(False))
    if before_id is not None:
        stmt = stmt.where(_LOG.id < before_id)
    rows = (await session.execute(stmt)).mappings().all()
    return [{**r, "created_at": _aware(r["created_at"])} for r in rows]


async def runs_page(session: AsyncSession, *, offset: int, limit: int) -> list[OptimizationRun]:
    """One page of optimizer runs (analysis, candidates with replay scores, decision)."""
    stmt = select(OptimizationRun).order_by(OptimizationRun.id.desc()).offset(offset).limit(limit)
    return list((await session.scalars(stmt)).all())


async def system_status(session: AsyncSession) -> SystemStatus:
    """Requests, last hour's pass rate, live versions and the model that served last."""
    total = await version_stats.for_session(session).total_requests(session)
    hour_total, hour_passes = (
        await session.execute(
            select(func.count(), _PASSED).where(
                _LOG.created_at >= utcnow() - timedelta(hours=1), _LOG.status == LogStatus.COMPLETED
            )
        )
    ).one()
    live = (
        await session.execute(
            select(Prompt.task_type, Prompt.version, Prompt.status, Prompt.canary_share)
            .where(Prompt.status.in_(("active", "canary")))
            .order_by(Prompt.task_type, Prompt.status)
        )
    ).all()
    served = (
        await session.execute(
            select(_LOG.provider, _LOG.model)
            .where(_LOG.provider.is_not(None))
            .order_by(_LOG.id.desc())
            .limit(1)
        )
    ).first()
    return SystemStatus(
        total_requests=total,
        last_hour_requests=int(hour_total or 0),
        last_hour_pass_rate=(int(hour_passes or 0) / int(hour_total)) if hour_total else None,
        live=[LiveVersion(task_type=t, version=v, status=s, canary_share=c) for t, v, s, c in live],
        provider=served[0] if served else None,
        model=served[1] if served else None,
    )
