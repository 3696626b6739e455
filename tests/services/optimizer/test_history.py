"""The prompt history as a source of candidates: earlier versions that did well live,
never the incumbent, never a rejected one, best live pass rate first."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from selfheal.core.config import OptimizerSettings
from selfheal.db import execution_logs
from selfheal.db import prompts as prompt_repo
from selfheal.db.models import PromptStatus
from selfheal.services.optimizer.history import history_candidates

TASK = "code_generation"
SETTINGS = OptimizerSettings(
    history_candidates=2, history_min_requests=3, history_min_pass_rate=0.5
)


async def _version(session: AsyncSession, content: str, status: str = "retired") -> int:
    """A version in ``status`` (an active one replaces the live prompt)."""
    prompt = await prompt_repo.create_version(
        session,
        task_type=TASK,
        content=content,
        author="human",
        reason="t",
        parent_version=None,
        status="candidate" if status == "active" else status,
    )
    if status == "active":
        await prompt_repo.activate(session, task_type=TASK, version=prompt.version)
    await session.commit()
    return prompt.version


async def _served(session: AsyncSession, version: int, passed: int, failed: int) -> None:
    for ok in [True] * passed + [False] * failed:
        await execution_logs.insert(
            session,
            request_id=str(uuid.uuid4()),
            task_type=TASK,
            status="completed",
            user_input="u",
            evaluation_score=0.9 if ok else 0.1,
            evaluation_passed=ok,
            failure_category=None if ok else "test_failure",
            prompt_version=version,
        )
        await session.commit()


async def test_earlier_versions_that_did_well_are_candidates_best_first(
    session: AsyncSession,
) -> None:
    await _served(session, 1, passed=3, failed=1)  # the seed: 75%
    good = await _version(session, "a good prompt")
    await _served(session, good, passed=5, failed=0)
    weak = await _version(session, "a weak prompt")
    await _served(session, weak, passed=1, failed=4)
    rarely = await _version(session, "a barely used prompt")
    await _served(session, rarely, passed=2, failed=0)
    bad = await _version(session, "the sabotage", status=PromptStatus.ACTIVE.value)
    await _served(session, bad, passed=0, failed=4)

    found = await history_candidates(
        session, task_type=TASK, incumbent_version=bad, settings=SETTINGS
    )

    assert [c.version for c in found] == [good, 1]
    assert found[0].pass_rate == 1.0 and found[0].requests == 5
    assert "live pass rate 100%" in found[0].rationale


async def test_versions_no_better_than_the_incumbent_and_rejected_ones_are_not_candidates(
    session: AsyncSession,
) -> None:
    rejected = await _version(session, "rejected once", status=PromptStatus.REJECTED.value)
    await _served(session, rejected, passed=5, failed=0)
    incumbent = await _version(session, "the incumbent", status=PromptStatus.ACTIVE.value)
    await _served(session, incumbent, passed=4, failed=0)
    await _served(session, 1, passed=3, failed=1)

    assert (
        await history_candidates(
            session, task_type=TASK, incumbent_version=incumbent, settings=SETTINGS
        )
        == []
    )
    assert (
        await history_candidates(
            session,
            task_type=TASK,
            incumbent_version=rejected,
            settings=OptimizerSettings(history_candidates=0),
        )
        == []
    )
