"""Public API of the manager: requests, prompts, optimizations. Routes stay thin."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import JSONResponse, PlainTextResponse

from selfheal.core.errors import NotFoundError
from selfheal.db import execution_logs, optimization_runs
from selfheal.db import prompts as prompt_repo
from selfheal.db.models import PromptAuthor, PromptStatus
from selfheal.services.common.deps import RuntimeDep, SessionDep
from selfheal.services.manager import flows
from selfheal.services.manager.deps import EvaluatorDep, OptimizerDep, WorkerDep
from selfheal.services.manager.schemas import (
    TASK_TYPE_PATTERN,
    CodeRequest,
    CodeResponse,
    ExecutionLogOut,
    OptimizationRequest,
    OptimizationRunOut,
    PromptCreate,
    PromptOut,
    RollbackRequest,
)
from selfheal.services.optimizer import job, rollout

router = APIRouter(prefix="/api/v1")


@router.post("/request", response_model=CodeResponse, tags=["requests"])
async def create_request(
    body: CodeRequest, runtime: RuntimeDep, worker: WorkerDep, evaluator: EvaluatorDep
) -> CodeResponse | JSONResponse:
    """Generate code for a request, evaluate it and log it."""
    try:
        return await flows.handle_request(body, runtime=runtime, worker=worker, evaluator=evaluator)
    except flows.UnknownTaskType as exc:
        return JSONResponse(status_code=422, content={"message": str(exc), "detail": str(exc)})


@router.get("/requests", response_model=list[ExecutionLogOut], tags=["requests"])
async def list_requests(
    session: SessionDep,
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0),
    task_type: str | None = Query(None, pattern=TASK_TYPE_PATTERN),
    passed: bool | None = None,
) -> list[ExecutionLogOut]:
    rows = await execution_logs.list_recent(
        session, limit=limit, offset=offset, task_type=task_type, passed=passed
    )
    return [ExecutionLogOut.model_validate(r) for r in rows]


@router.get("/requests/{request_id}", response_model=ExecutionLogOut, tags=["requests"])
async def get_request(request_id: str, session: SessionDep) -> ExecutionLogOut:
    row = await execution_logs.get(session, request_id=request_id)
    if row is None:
        raise HTTPException(404, f"no request with id {request_id!r}")
    return ExecutionLogOut.model_validate(row)


@router.get("/prompts", response_model=list[PromptOut], tags=["prompts"])
async def list_prompts(session: SessionDep) -> list[PromptOut]:
    """The live prompt(s) of every task type: the active one and any canary."""
    return [PromptOut.model_validate(p) for p in await prompt_repo.list_active(session)]


@router.get("/prompts/{task_type}/versions", response_model=list[PromptOut], tags=["prompts"])
async def prompt_versions(task_type: str, session: SessionDep) -> list[PromptOut]:
    versions = await prompt_repo.list_versions(session, task_type=task_type)
    if not versions:
        raise NotFoundError(f"task type {task_type!r} has no prompts")
    stats = await execution_logs.version_stats(session, task_type=task_type)
    out = []
    for p in versions:
        item = PromptOut.model_validate(p)
        item.stats = stats.get(
            p.version, {"requests": 0, "passes": 0, "pass_rate": 0.0, "avg_score": 0.0}
        )
        out.append(item)
    return out


@router.get("/prompts/{task_type}/versions/{version}/diff", tags=["prompts"])
async def prompt_diff(
    task_type: str, version: int, session: SessionDep, against: int | None = Query(None, ge=1)
) -> PlainTextResponse:
    """A unified diff of a version against its parent (or ``against``)."""
    text = await prompt_repo.diff(session, task_type=task_type, version=version, against=against)
    return PlainTextResponse(text, media_type="text/x-diff")


@router.post("/prompts/{task_type}", response_model=PromptOut, status_code=201, tags=["prompts"])
async def create_prompt(task_type: str, body: PromptCreate, session: SessionDep) -> PromptOut:
    """Add a human-written version (active at once unless ``activate`` is false)."""
    if not _valid_task_type(task_type):
        raise HTTPException(422, "task_type must be lowercase letters, digits and underscores")
    active = await prompt_repo.get_active(session, task_type=task_type)
    prompt = await prompt_repo.create_version(
        session,
        task_type=task_type,
        content=body.content,
        author=PromptAuthor.HUMAN.value,
        reason=body.reason,
        parent_version=active.version if active else None,
        status=PromptStatus.CANDIDATE.value,
    )
    if body.activate:
        await prompt_repo.activate(session, task_type=task_type, version=prompt.version)
    await session.commit()
    return PromptOut.model_validate(prompt)


@router.post("/prompts/{task_type}/rollback", response_model=PromptOut, tags=["prompts"])
async def rollback_prompt(task_type: str, body: RollbackRequest, session: SessionDep) -> PromptOut:
    """Re-activate an earlier version (default: the one live before the current)."""
    prompt = await rollout.rollback(
        session, task_type=task_type, to_version=body.to_version,
        reason="manual rollback through the API", trigger="api",
    )  # fmt: skip
    return PromptOut.model_validate(prompt)


@router.get("/optimizations", response_model=list[OptimizationRunOut], tags=["optimizations"])
async def list_optimizations(
    session: SessionDep,
    limit: int = Query(20, ge=1, le=200),
    task_type: str | None = Query(None, pattern=TASK_TYPE_PATTERN),
) -> list[OptimizationRunOut]:
    rows = await optimization_runs.list_recent(session, limit=limit, task_type=task_type)
    return [OptimizationRunOut.model_validate(r) for r in rows]


@router.post("/optimizations/run", tags=["optimizations"])
async def run_optimization(body: OptimizationRequest, optimizer: OptimizerDep) -> dict[str, Any]:
    """Run one optimization now (every due task type, or the one given) and return its report."""
    reports = await job.run_due(
        optimizer, trigger="api", task_type=body.task_type, force=body.force
    )
    return {"runs": reports}


def _valid_task_type(value: str) -> bool:
    return re.fullmatch(TASK_TYPE_PATTERN, value) is not None
