from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from selfheal.db import prompts as repo
from selfheal.db.models import Prompt, PromptStatus, RunTrigger


async def test_seed_prompt_is_active(session: AsyncSession) -> None:
    active = await repo.get_active(session, task_type="code_generation")
    assert active is not None
    assert active.version == 1
    assert active.author == "seed"
    assert "fenced" in active.content


async def test_database_refuses_a_second_active_prompt(session: AsyncSession) -> None:
    session.add(
        Prompt(
            task_type="code_generation",
            version=2,
            content="x",
            status="active",
            author="human",
            reason="",
        )
    )
    with pytest.raises(IntegrityError):
        await session.flush()


async def test_activate_retires_the_previous_version(session: AsyncSession) -> None:
    new = await repo.create_version(
        session,
        task_type="code_generation",
        content="new",
        author="human",
        reason="r",
        parent_version=1,
    )
    assert new.version == 2
    await repo.activate(session, task_type="code_generation", version=2)
    await session.commit()
    statuses = dict((await session.execute(select(Prompt.version, Prompt.status))).all())
    assert statuses == {1: PromptStatus.RETIRED, 2: PromptStatus.ACTIVE}


async def test_canary_is_live_beside_the_active_prompt(session: AsyncSession) -> None:
    cand = await repo.create_version(
        session,
        task_type="code_generation",
        content="c",
        author="optimizer",
        reason="r",
        parent_version=1,
    )
    await repo.start_canary(session, task_type="code_generation", version=cand.version, share=0.25)
    await session.commit()
    active, canary = await repo.get_live(session, task_type="code_generation")
    assert active is not None and active.version == 1
    assert canary is not None and canary.version == 2 and canary.canary_share == 0.25


async def test_previous_active_version_is_the_parent(session: AsyncSession) -> None:
    v2 = await repo.create_version(
        session,
        task_type="code_generation",
        content="two",
        author="human",
        reason="",
        parent_version=1,
    )
    await repo.activate(session, task_type="code_generation", version=v2.version)
    await session.commit()
    assert await repo.previous_active_version(session, task_type="code_generation", current=v2) == 1


async def test_concurrent_prompt_writes_are_serialized(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """Admins adding versions while another rolls back: every write lands on its own
    version number, exactly one version stays active, nothing fails on a unique index."""
    from selfheal.services.manager import prompt_service
    from selfheal.services.optimizer import rollout

    async def add(i: int) -> int:
        async with sessionmaker() as s:
            out = await prompt_service.add_human_version(
                s, task_type="code_generation", content=f"prompt {i}", reason="concurrent"
            )
            return out.version

    async def roll_back() -> int:
        async with sessionmaker() as s:
            restored, _ = await rollout.rollback(
                s,
                task_type="code_generation",
                to_version=1,
                reason="race",
                trigger=RunTrigger.API,
            )
            await s.commit()
            return restored.version

    versions = await asyncio.gather(*(add(i) for i in range(6)))
    assert sorted(versions) == [2, 3, 4, 5, 6, 7]
    results = await asyncio.gather(roll_back(), add(6), add(7), return_exceptions=True)
    assert not [r for r in results if isinstance(r, BaseException)], results
    async with sessionmaker() as s:
        rows = (await s.scalars(select(Prompt).where(Prompt.task_type == "code_generation"))).all()
    assert sorted(p.version for p in rows) == list(range(1, 10))
    assert [p.status for p in rows].count(PromptStatus.ACTIVE.value) == 1
