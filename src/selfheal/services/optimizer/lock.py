"""One optimizer writer per task type.

PostgreSQL: a session-level advisory lock keyed by the task type, held on its own
connection for the whole run. SQLite: a lease row in ``optimizer_locks``, claimed under the
database write lock (``BEGIN IMMEDIATE``) so that "is it free? then it is mine" is atomic;
a lease older than ``STALE_AFTER`` (a crashed holder) is taken over.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from sqlalchemy import delete, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from selfheal.db.models import OptimizerLock, utcnow
from selfheal.db.session import advisory_key, is_sqlite

STALE_AFTER = timedelta(minutes=15)


def lock_key(task_type: str) -> int:
    """The pg_advisory_lock key of the optimizer of one task type."""
    return advisory_key(b"selfheal-optimizer", task_type)


@asynccontextmanager
async def task_lock(engine: AsyncEngine, task_type: str) -> AsyncIterator[bool]:
    """Yield True when this caller is the only optimizer of ``task_type`` right now."""
    if is_sqlite(str(engine.url)):
        async with _lease(engine, task_type) as got:
            yield got
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


@asynccontextmanager
async def _lease(engine: AsyncEngine, task_type: str) -> AsyncIterator[bool]:
    holder = str(uuid.uuid4())
    async with engine.connect() as conn:
        await conn.exec_driver_sql("BEGIN IMMEDIATE")
        busy = await conn.scalar(
            select(OptimizerLock.holder).where(
                OptimizerLock.task_type == task_type,
                OptimizerLock.acquired_at > utcnow() - STALE_AFTER,
            )
        )
        if busy is not None:
            await conn.rollback()
            yield False
            return
        await conn.execute(delete(OptimizerLock).where(OptimizerLock.task_type == task_type))
        await conn.execute(
            insert(OptimizerLock).values(task_type=task_type, holder=holder, acquired_at=utcnow())
        )
        await conn.commit()
    try:
        yield True
    finally:
        async with engine.begin() as conn:
            await conn.execute(
                delete(OptimizerLock).where(
                    OptimizerLock.task_type == task_type, OptimizerLock.holder == holder
                )
            )
