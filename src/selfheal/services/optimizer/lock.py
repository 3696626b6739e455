"""One optimizer writer per task type.

PostgreSQL: a session-level advisory lock keyed by the task type, held on its own
connection for the whole run. SQLite: the database write lock (``BEGIN IMMEDIATE``)
makes "is a run in progress? if not, record mine" atomic; the running row is the lease.
On both, the ``optimization_runs`` row in status ``running`` is what others see.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from selfheal.db.models import OptimizationRun, utcnow
from selfheal.db.session import advisory_key, is_sqlite

STALE_AFTER = timedelta(minutes=15)


def lock_key(task_type: str) -> int:
    """The pg_advisory_lock key of the optimizer of one task type."""
    return advisory_key(b"selfheal-optimizer", task_type)


@asynccontextmanager
async def task_lock(engine: AsyncEngine, task_type: str) -> AsyncIterator[bool]:
    """Yield True when this caller is the only optimizer of ``task_type`` right now."""
    if is_sqlite(str(engine.url)):
        async with engine.connect() as conn:
            await conn.exec_driver_sql("BEGIN IMMEDIATE")
            rid = f"lock-{task_type}"
            busy = await conn.scalar(
                select(OptimizationRun.id).where(
                    OptimizationRun.run_id == rid,
                    OptimizationRun.started_at > utcnow() - STALE_AFTER,
                )
            )
            if busy is not None:
                await conn.rollback()
                yield False
                return
            # Claim: a lease row other runs see once we commit (a stale one is replaced).
            await conn.execute(
                text("DELETE FROM optimization_runs WHERE run_id = :rid"), {"rid": rid}
            )
            await conn.execute(
                text(
                    "INSERT INTO optimization_runs (run_id, task_type, kind, trigger, status, "
                    "failure_count, llm_calls, started_at) VALUES "
                    "(:rid, :tt, 'lock', 'lock', 'running', 0, 0, :now)"
                ),
                {"rid": rid, "tt": task_type, "now": utcnow()},
            )
            await conn.commit()
        try:
            yield True
        finally:
            async with engine.begin() as conn:
                await conn.execute(
                    text("DELETE FROM optimization_runs WHERE run_id = :rid"),
                    {"rid": f"lock-{task_type}"},
                )
        return
    async with engine.connect() as conn:
        key = lock_key(task_type)
        got = bool(await conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}))
        try:
            yield got
        finally:
            if got:
                await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            await conn.commit()
