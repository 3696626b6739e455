"""Text and JSON columns keep every string a client may send, NUL included, on both databases."""

from __future__ import annotations

import uuid

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from selfheal.db import execution_logs
from selfheal.db.models import ExecutionLog
from selfheal.db.types import ESCAPE, escape_nul, unescape_nul

AWKWARD = ["\x00", "a\x00b", ESCAPE, ESCAPE + "0", ESCAPE + "e\x00", "\x00" * 3 + ESCAPE * 2, ""]


def test_escaping_is_reversible_and_leaves_no_nul() -> None:
    for value in AWKWARD:
        assert "\x00" not in escape_nul(value)
        assert unescape_nul(escape_nul(value)) == value
    assert escape_nul("plain text") == "plain text"


async def test_text_and_json_with_nul_round_trip(session: AsyncSession) -> None:
    request_id = str(uuid.uuid4())
    odd = "".join(AWKWARD) + "\x01\x1b\x7f"
    await execution_logs.insert(
        session,
        request_id=request_id,
        task_type="code_generation",
        user_input=odd,
        tests=odd,
        error=odd,
        evaluation_detail={"stdout": odd, odd: [odd, 1, None]},
    )
    await session.commit()
    row = (
        await session.execute(select(ExecutionLog).where(ExecutionLog.request_id == request_id))
    ).scalar_one()
    assert (row.user_input, row.tests, row.error) == (odd, odd, odd)
    assert row.evaluation_detail == {"stdout": odd, odd: [odd, 1, None]}


async def test_a_lookup_by_a_key_holding_nul_finds_nothing(session: AsyncSession) -> None:
    assert await execution_logs.get(session, request_id="\x00") is None
    assert (await session.execute(text("select 1"))).scalar() == 1  # the session still works
