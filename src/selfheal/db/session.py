"""Engine and session factory, for PostgreSQL (asyncpg) and SQLite (aiosqlite) alike."""

from __future__ import annotations

import zlib
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def advisory_key(namespace: bytes, name: str) -> int:
    """A stable signed 64-bit PostgreSQL advisory-lock key for ``name`` within ``namespace``."""
    value = zlib.crc32(namespace) << 32 | zlib.crc32(name.encode())
    return value - (1 << 64) if value >= 1 << 63 else value


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    """An async engine tuned for the backend: WAL + busy timeout on SQLite, a pool on PostgreSQL."""
    if is_sqlite(url):
        engine = create_async_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return create_async_engine(
        url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=False
    )


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def ping(engine: AsyncEngine) -> bool:
    """True when the database answers ``SELECT 1``."""
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return True
    except Exception:
        return False
