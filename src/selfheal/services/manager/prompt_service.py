"""Prompt versions as the public API, the CLI and the dashboard see them: one place for
"read the live ones", "history with live stats", "diff any two", "a person writes one",
"roll back". Routes call these and stay thin."""

from __future__ import annotations

from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from selfheal.core.errors import NotFoundError
from selfheal.db import execution_logs
from selfheal.db import prompts as prompt_repo
from selfheal.db.models import Prompt, PromptAuthor, PromptStatus, RunTrigger
from selfheal.services.manager.schemas import PromptOut
from selfheal.services.optimizer import rollout


class StatsSource(Protocol):
    """Live stats per version of one task type (``execution_logs.version_stats``'s shape)."""

    async def __call__(
        self, session: AsyncSession, *, task_type: str
    ) -> dict[int, dict[str, float]]: ...


_NO_STATS = {"requests": 0.0, "passes": 0.0, "pass_rate": 0.0, "avg_score": 0.0}


async def list_live(session: AsyncSession) -> list[PromptOut]:
    """The active prompt of every task type, and any canary beside it."""
    return [PromptOut.model_validate(p) for p in await prompt_repo.list_active(session)]


async def versions(
    session: AsyncSession, *, task_type: str, stats: StatsSource | None = None
) -> list[PromptOut]:
    """Every version of a task type, newest first, each with its live stats (aggregated in
    SQL; ``stats`` may serve them incrementally, as the dashboard does)."""
    rows = await prompt_repo.list_versions(session, task_type=task_type)
    if not rows:
        raise NotFoundError(f"task type {task_type!r} has no prompts")
    source = stats or execution_logs.version_stats
    per_version = await source(session, task_type=task_type)
    return [_with_stats(p, per_version) for p in rows]


def _with_stats(prompt: Prompt, stats: dict[int, dict[str, float]]) -> PromptOut:
    item = PromptOut.model_validate(prompt)
    item.stats = stats.get(prompt.version, dict(_NO_STATS))
    return item


async def diff(
    session: AsyncSession, *, task_type: str, version: int | None = None, against: int | None = None
) -> str:
    """A unified diff of ``version`` (default: the active one) against ``against`` (default:
    its parent)."""
    return await prompt_repo.diff(session, task_type=task_type, version=version, against=against)


async def add_human_version(
    session: AsyncSession, *, task_type: str, content: str, reason: str, activate: bool = True
) -> PromptOut:
    """Store a person's prompt as the next version (its parent: the active one) and, unless
    told otherwise, make it active; commits."""
    await prompt_repo.lock_writes(session, task_type=task_type)
    active = await prompt_repo.get_active(session, task_type=task_type)
    prompt = await prompt_repo.create_version(
        session,
        task_type=task_type,
        content=content,
        author=PromptAuthor.HUMAN.value,
        reason=reason,
        parent_version=active.version if active else None,
        status=PromptStatus.CANDIDATE.value,
    )
    if activate:
        await prompt_repo.activate(session, task_type=task_type, version=prompt.version)
    await session.commit()
    return PromptOut.model_validate(prompt)


async def rollback(
    session: AsyncSession,
    *,
    task_type: str,
    to_version: int | None,
    reason: str,
    trigger: RunTrigger,
) -> PromptOut:
    """Re-activate an earlier version (default: the one live before); leaves a rollback run."""
    prompt, _ = await rollout.rollback(
        session, task_type=task_type, to_version=to_version, reason=reason, trigger=trigger
    )
    await session.commit()
    return PromptOut.model_validate(prompt)
