"""A prompt failure written to the log wakes the optimizer through LISTEN/NOTIFY (PostgreSQL)."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from selfheal.db import execution_logs
from selfheal.db.notify import listen_failures


def _row(**overrides: object) -> dict[str, object]:
    row: dict[str, object] = {
        "request_id": str(uuid.uuid4()),
        "task_type": "code_generation",
        "status": "completed",
        "user_input": "x",
        "evaluation_passed": False,
        "failure_category": "no_code",
    }
    row.update(overrides)
    return row


async def test_failures_notify_and_passes_do_not(
    db_url: str, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    heard: list[str] = []
    got = asyncio.Event()

    def on_failure(task_type: str) -> None:
        heard.append(task_type)
        got.set()

    async with listen_failures(db_url, on_failure) as listening:
        if not db_url.startswith("postgresql"):
            assert listening is False  # SQLite: the watcher polls instead
            return
        assert listening is True
        async with sessionmaker() as session:
            for row in (
                _row(evaluation_passed=True, failure_category=None),
                _row(failure_category="judge_unavailable"),
                _row(),
            ):
                await execution_logs.insert(session, **row)
                await session.commit()
        await asyncio.wait_for(got.wait(), timeout=5)
        await asyncio.sleep(0.2)
    assert heard == ["code_generation"]
