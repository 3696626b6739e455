"""The log spool on real databases: rows kept while the database is away are written once,
in order, faithfully (NUL, lone-surrogate escapes, datetimes, JSON); a pass that meets the
database away again keeps the rest; a claim left by a crash is replayed; a row already
stored is not stored twice."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from selfheal.db import execution_logs
from selfheal.db.models import ExecutionLog
from selfheal.services.manager.log_spool import LogSpool


def _row(text: str = "fib \x00 \ud800-escaped") -> dict[str, Any]:
    return {
        "request_id": str(uuid.uuid4()),
        "task_type": "code_generation",
        "status": "completed",
        "user_input": text.encode("utf-8", "backslashreplace").decode(),
        "evaluation_passed": True,
        "evaluation_detail": {"tests": {"passed": 3, "total": 3}, "nested": [1, None, "\x00"]},
        "created_at": datetime(2026, 12, 3, 7, 0, tzinfo=UTC),
    }


def _store(sessionmaker: async_sessionmaker[AsyncSession]) -> Any:
    async def store(row: dict[str, Any]) -> None:
        async with sessionmaker() as session:
            await execution_logs.insert(session, **row)
            await session.commit()

    return store


async def _stored(sessionmaker: async_sessionmaker[AsyncSession]) -> list[ExecutionLog]:
    async with sessionmaker() as session:
        return list((await session.scalars(select(ExecutionLog).order_by(ExecutionLog.id))).all())


async def test_spooled_rows_are_written_once_and_faithfully(
    sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    spool = LogSpool(tmp_path / "spool")
    rows = [_row(), _row("second"), _row("third")]
    for row in rows:
        spool.append(row)
    assert spool.pending() == 3
    assert await spool.replay(_store(sessionmaker)) == 3
    assert spool.pending() == 0 and not list((tmp_path / "spool").iterdir())
    stored = await _stored(sessionmaker)
    assert [r.request_id for r in stored] == [r["request_id"] for r in rows]
    assert stored[0].user_input == "fib \x00 \\ud800-escaped"
    assert stored[0].evaluation_detail == rows[0]["evaluation_detail"]
    assert stored[0].created_at.replace(tzinfo=UTC) == rows[0]["created_at"]
    assert await spool.replay(_store(sessionmaker)) == 0


async def test_a_database_error_mid_replay_keeps_the_rest_for_the_next_pass(
    sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    spool = LogSpool(tmp_path / "spool")
    rows = [_row("a"), _row("b"), _row("c")]
    for row in rows:
        spool.append(row)
    real = _store(sessionmaker)
    calls = 0

    async def flaky(row: dict[str, Any]) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise OperationalError("INSERT", {}, ConnectionError("the database went away"))
        await real(row)

    assert await spool.replay(flaky) == 1
    assert spool.pending() == 2
    spool.append(_row("d"))  # a new row while the first ones wait
    assert await spool.replay(real) == 3
    assert [r.user_input for r in await _stored(sessionmaker)] == ["a", "b", "c", "d"]


async def test_a_claim_left_by_a_crash_is_replayed_and_stored_rows_are_skipped(
    sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    directory = tmp_path / "spool"
    first, second = _row("stored before the crash"), _row("not yet stored")
    await _store(sessionmaker)(first)
    LogSpool(directory).append(first)
    LogSpool(directory).append(second)
    # A process died after claiming the file and storing its first row.
    (directory / next(directory.glob("spool-*.jsonl")).name).rename(directory / "claim-1-0.jsonl")
    assert await LogSpool(directory).replay(_store(sessionmaker)) == 1
    assert [r.user_input for r in await _stored(sessionmaker)] == [
        "stored before the crash",
        "not yet stored",
    ]
    assert not list(directory.iterdir())


def test_an_append_after_a_claim_goes_to_a_fresh_file(tmp_path: Path) -> None:
    spool = LogSpool(tmp_path)
    spool.append(_row("one"))
    claimed = spool._claim()
    spool.append(_row("two"))
    assert len(claimed) == 1 and "one" in claimed[0].read_text()
    assert "two" not in claimed[0].read_text()
    assert spool.pending() == 2
