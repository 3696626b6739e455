"""Failure notifications: PostgreSQL LISTEN/NOTIFY so the optimizer reacts within seconds.

On SQLite there is no server to notify through; the watcher polls the (indexed) failure
query instead, which on one machine costs well under a millisecond a tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from selfheal.db.session import is_sqlite

log = logging.getLogger(__name__)
CHANNEL = "selfheal_failures"


async def notify_failure(session: AsyncSession, *, task_type: str) -> None:
    """Queue a notification; PostgreSQL delivers it when the transaction commits."""
    if session.get_bind().dialect.name == "sqlite":
        return
    await session.execute(
        text("SELECT pg_notify(:channel, :payload)"), {"channel": CHANNEL, "payload": task_type}
    )


@asynccontextmanager
async def listen_failures(url: str, on_failure: Callable[[str], None]) -> AsyncIterator[bool]:
    """While open, call ``on_failure(task_type)`` for every notified failure. Yields False
    (and does nothing) on SQLite or when the listener cannot connect."""
    if is_sqlite(url):
        yield False
        return
    dsn = url.replace("postgresql+asyncpg://", "postgresql://", 1)
    try:
        conn: Any = await asyncpg.connect(dsn)
    except (OSError, asyncpg.PostgresError) as exc:
        log.warning("cannot LISTEN for failures (%s); falling back to polling", exc)
        yield False
        return

    def _callback(_conn: Any, _pid: int, _channel: str, payload: str) -> None:
        on_failure(payload)

    await conn.add_listener(CHANNEL, _callback)
    try:
        yield True
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(conn.remove_listener(CHANNEL, _callback), 2)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(conn.close(), 2)
