"""Generate with the prompt that is live right now (read from the DB on every request)."""

from __future__ import annotations

import hashlib

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from selfheal.core import metrics
from selfheal.core.errors import NotFoundError
from selfheal.db import prompts as prompt_repo
from selfheal.db.prompts import LivePrompt
from selfheal.llm.base import LLMRequest, Role
from selfheal.llm.client import LLMClient
from selfheal.services.worker.schemas import LLMUsage, TaskRequest, TaskResponse


def in_canary(request_id: str, share: float) -> bool:
    """Deterministic split: the same request id always lands on the same side."""
    bucket = int.from_bytes(hashlib.blake2b(request_id.encode(), digest_size=4).digest(), "big")
    return bucket % 10_000 < share * 10_000


async def choose_prompt(
    session: AsyncSession, *, task_type: str, request_id: str, version: int | None
) -> LivePrompt:
    """The pinned version, else the canary for its share of traffic, else the active prompt."""
    if version is not None:
        prompt = await prompt_repo.get_version(session, task_type=task_type, version=version)
        if prompt is None:
            raise NotFoundError(f"task type {task_type!r} has no prompt version {version}")
        return LivePrompt(prompt.version, prompt.status, prompt.content, prompt.canary_share)
    active, canary = await prompt_repo.live_rows(session, task_type=task_type)
    if canary is not None and canary.canary_share and in_canary(request_id, canary.canary_share):
        return canary
    if active is None:
        if canary is not None:
            return canary
        raise NotFoundError(f"no prompt is configured for task type {task_type!r}")
    return active


async def run_task(
    body: TaskRequest, *, sessions: async_sessionmaker[AsyncSession], llm: LLMClient
) -> TaskResponse:
    version: int | None
    if body.prompt_content is not None:
        version, status, content = None, "candidate", body.prompt_content
    else:
        # A session only for the prompt read: its connection is back in the pool before
        # the slow LLM call; plain values from here on.
        async with sessions() as session:
            prompt = await choose_prompt(
                session,
                task_type=body.task_type,
                request_id=body.request_id,
                version=body.prompt_version,
            )
        version, status, content = prompt.version, prompt.status, prompt.content
    if version is not None:
        metrics.ACTIVE_PROMPT_VERSION.labels(body.task_type, status).set(version)
    response = await llm.generate(
        LLMRequest(role=Role.WORKER, system=content, prompt=body.refined_input)
    )
    return TaskResponse(
        request_id=body.request_id,
        output=response.text,
        prompt_version=version,
        prompt_status=status,
        latency_ms=round(response.latency_ms, 3),
        llm=LLMUsage(
            provider=response.provider,
            model=response.model,
            input_tokens=response.input_tokens,
            output_tokens=response.output_tokens,
        ),
    )
