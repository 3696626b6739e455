"""Live stats per prompt version for the dashboard, aggregated in SQL incrementally.

Execution logs are append-only, so what a version did up to some row id never changes. A
manager keeps, per database and task type, the sums over rows up to a settled id (the
newest row older than ``SETTLE_S``: every transaction that wrote below it has committed)
and asks SQL only for rows after it: a primary-key range, however large the table. The
first page after a start pays one full aggregate per task type (served by a covering
index)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import case, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession

from selfheal.db.models import ExecutionLog, LogStatus, utcnow

SETTLE_S = 60
_LOG = ExecutionLog
_PASSED = func.sum(case((_LOG.evaluation_passed.is_(True), 1), else_=0))


@dataclass
class _Sums:
    requests: int = 0
    passes: int = 0
    score_sum: float = 0.0
    scored: int = 0

    def add(self, requests: int, passes: int, score_sum: float, scored: int) -> None:
        self.requests += requests
        self.passes += passes
        self.score_sum += score_sum
        self.scored += scored


@dataclass
class _TaskCache:
    settled_id: int = 0
    sums: dict[int, _Sums] = field(default_factory=dict)


async def _aggregate(
    session: AsyncSession, *, task_type: str, after_id: int, upto_id: int | None
) -> dict[int, tuple[int, int, float, int]]:
    # After the first look the id range is short, but SQLite cannot tell and would walk the
    # task_type index over the whole table: comparing ``task_type || ''`` leaves it the key
    # range (PostgreSQL picks the key range either way).
    same_task = (
        (_LOG.task_type + literal_column("''")) == task_type
        if after_id > 0
        else _LOG.task_type == task_type
    )
    stmt = (
        select(
            _LOG.prompt_version,
            func.count(),
            _PASSED,
            func.coalesce(func.sum(_LOG.evaluation_score), 0.0),
            func.count(_LOG.evaluation_score),
        )
        .where(
            same_task,
            _LOG.status == LogStatus.COMPLETED,
            _LOG.prompt_version.is_not(None),
            _LOG.id > after_id,
        )
        .group_by(_LOG.prompt_version)
    )
    if upto_id is not None:
        stmt = stmt.where(_LOG.id <= upto_id)
    rows = (await session.execute(stmt)).all()
    return {int(v): (int(n), int(p or 0), float(s or 0.0), int(k)) for v, n, p, s, k in rows}


async def _settled_id(session: AsyncSession) -> int | None:
    return await session.scalar(
        select(func.max(_LOG.id)).where(_LOG.created_at < utcnow() - timedelta(seconds=SETTLE_S))
    )


class VersionStatsCache:
    """Per task type: requests, passes, pass rate and mean score of every prompt version;
    and the number of execution logs."""

    def __init__(self) -> None:
        self._tasks: dict[str, _TaskCache] = {}
        self._lock = asyncio.Lock()
        self._count_settled_id = 0
        self._count = 0

    async def total_requests(self, session: AsyncSession) -> int:
        """``SELECT count(*)`` over all logs, counted incrementally by id range."""
        async with self._lock:
            settled = await _settled_id(session)
            if settled is not None and settled > self._count_settled_id:
                self._count += int(
                    await session.scalar(
                        select(func.count()).where(
                            _LOG.id > self._count_settled_id, _LOG.id <= settled
                        )
                    )
                    or 0
                )
                self._count_settled_id = settled
            fresh = await session.scalar(
                select(func.count()).where(_LOG.id > self._count_settled_id)
            )
            return self._count + int(fresh or 0)

    async def stats(self, session: AsyncSession, *, task_type: str) -> dict[int, dict[str, float]]:
        async with self._lock:
            cache = self._tasks.setdefault(task_type, _TaskCache())
            settled = await _settled_id(session)
            if settled is not None and settled > cache.settled_id:
                new = await _aggregate(
                    session, task_type=task_type, after_id=cache.settled_id, upto_id=settled
                )
                for version, parts in new.items():
                    cache.sums.setdefault(version, _Sums()).add(*parts)
                cache.settled_id = settled
            fresh = await _aggregate(
                session, task_type=task_type, after_id=cache.settled_id, upto_id=None
            )
            total: dict[int, _Sums] = {}
            for version, sums in cache.sums.items():
                total[version] = _Sums(sums.requests, sums.passes, sums.score_sum, sums.scored)
            for version, parts in fresh.items():
                total.setdefault(version, _Sums()).add(*parts)
        return {
            version: {
                "requests": float(s.requests),
                "passes": float(s.passes),
                "pass_rate": s.passes / s.requests if s.requests else 0.0,
                "avg_score": s.score_sum / s.scored if s.scored else 0.0,
            }
            for version, s in total.items()
        }


_CACHES: dict[str, VersionStatsCache] = {}


def for_session(session: AsyncSession) -> VersionStatsCache:
    """The cache of the database this session talks to (one per database per process)."""
    key = str(session.get_bind().engine.url)
    return _CACHES.setdefault(key, VersionStatsCache())
