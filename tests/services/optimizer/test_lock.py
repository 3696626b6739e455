"""One optimizer per task type: the advisory lock (PostgreSQL) or the lease table (SQLite),
never rows in the audit table."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from selfheal.db.models import OptimizationRun, OptimizerLock, utcnow
from selfheal.db.session import is_sqlite
from selfheal.services.optimizer.lock import STALE_AFTER, task_lock


async def _count(engine: AsyncEngine, model: type[OptimizationRun] | type[OptimizerLock]) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(model)) or 0)


async def test_one_holder_per_task_type_and_released_after(engine: AsyncEngine) -> None:
    async with task_lock(engine, "code_generation") as first:
        assert first
        async with task_lock(engine, "code_generation") as second:
            assert not second
        async with task_lock(engine, "sql_query") as other:
            assert other  # task types do not block each other
        assert await _count(engine, OptimizationRun) == 0  # the audit table holds no leases
    async with task_lock(engine, "code_generation") as again:
        assert again
    assert await _count(engine, OptimizerLock) == 0


async def test_a_crashed_holders_stale_lease_is_taken_over(engine: AsyncEngine) -> None:
    if not is_sqlite(str(engine.url)):
        return  # PostgreSQL releases a dead session's advisory lock itself
    async with task_lock(engine, "code_generation") as held:
        assert held
        async with engine.begin() as conn:  # its holder stopped renewing long ago
            await conn.execute(
                update(OptimizerLock).values(acquired_at=utcnow() - STALE_AFTER - timedelta(1))
            )
        async with task_lock(engine, "code_generation") as taken:
            assert taken
