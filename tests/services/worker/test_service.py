"""The worker's choice of prompt: pinned version, canary share, active prompt, unknown type."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from selfheal.core.errors import NotFoundError
from selfheal.db import prompts as repo
from selfheal.services.worker.service import choose_prompt, in_canary


def test_the_canary_split_is_deterministic_and_proportional() -> None:
    ids = [str(uuid.UUID(int=i)) for i in range(4000)]
    assert [in_canary(i, 0.25) for i in ids[:50]] == [in_canary(i, 0.25) for i in ids[:50]]
    share = sum(in_canary(i, 0.25) for i in ids) / len(ids)
    assert 0.2 < share < 0.3
    assert not any(in_canary(i, 0.0) for i in ids[:200])
    assert all(in_canary(i, 1.0) for i in ids[:200])


async def test_active_prompt_by_default(session: AsyncSession) -> None:
    chosen = await choose_prompt(
        session, task_type="code_generation", request_id="r1", version=None
    )
    assert chosen.version == 1 and chosen.status == "active"


async def test_a_pinned_version_is_served_whatever_its_status(session: AsyncSession) -> None:
    cand = await repo.create_version(
        session,
        task_type="code_generation",
        content="pinned",
        author="human",
        reason="",
        parent_version=1,
    )
    await session.commit()
    chosen = await choose_prompt(
        session, task_type="code_generation", request_id="r", version=cand.version
    )
    assert chosen.content == "pinned" and chosen.status == "candidate"
    with pytest.raises(NotFoundError):
        await choose_prompt(session, task_type="code_generation", request_id="r", version=99)


async def test_the_canary_serves_its_share(session: AsyncSession) -> None:
    cand = await repo.create_version(
        session,
        task_type="code_generation",
        content="canary",
        author="optimizer",
        reason="",
        parent_version=1,
    )
    await repo.start_canary(session, task_type="code_generation", version=cand.version, share=0.5)
    await session.commit()
    served = [
        (
            await choose_prompt(
                session, task_type="code_generation", request_id=str(uuid.UUID(int=i)), version=None
            )
        ).version
        for i in range(200)
    ]
    assert set(served) == {1, cand.version}
    assert 60 < served.count(cand.version) < 140


async def test_an_unknown_task_type_is_not_found(session: AsyncSession) -> None:
    with pytest.raises(NotFoundError, match="no prompt is configured"):
        await choose_prompt(session, task_type="nope", request_id="r", version=None)
