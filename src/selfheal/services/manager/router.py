"""Public API of the manager: requests, prompts, optimizations. Routes stay thin."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from fastapi.responses import JSONResponse, PlainTextResponse

from selfheal.db import execution_logs, optimization_runs
from selfheal.db.models import RunTrigger
from selfheal.db.types import DB_INT_MAX
from selfheal.services.common.auth import require_admin_key
from selfheal.services.common.deps import RuntimeDep, SessionDep
from selfheal.services.manager import flows, optimizations, prompt_service
from selfheal.services.manager.dashboard import queries as dashboard_queries
from selfheal.services.manager.deps import EvaluatorDep, OptimizerDep, WorkerDep
from selfheal.services.manager.schemas import (
    TASK_TYPE_PATTERN,
    ApprovalDecision,
    CodeRequest,
    CodeResponse,
    ExecutionLogOut,
    OptimizationPassOut,
    OptimizationRequest,
    OptimizationRunOut,
    PromptCreate,
    PromptOut,
    RollbackRequest,
    SystemStatus,
)

router = APIRouter(prefix="/api/v1")

# Prompt changes and optimizer runs (SELFHEAL_ADMIN_API_KEY when set).
ADMIN = [Depends(require_admin_key)]


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
    offset: int = Query(0, ge=0, le=DB_INT_MAX),
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
    return await prompt_service.list_live(session)


@router.get("/prompts/{task_type}/versions", response_model=list[PromptOut], tags=["prompts"])
async def prompt_versions(task_type: str, session: SessionDep) -> list[PromptOut]:
    """Every version, newest first, with parent, author, reason and live stats."""
    return await prompt_service.versions(session, task_type=task_type)


@router.get("/prompts/{task_type}/versions/{version}/diff", tags=["prompts"])
async def prompt_diff(
    task_type: str,
    version: Annotated[int, Path(ge=1, le=DB_INT_MAX)],
    session: SessionDep,
    against: int | None = Query(None, ge=1, le=DB_INT_MAX),
) -> PlainTextResponse:
    """A unified diff of a version against its parent (or ``against``)."""
    text = await prompt_service.diff(session, task_type=task_type, version=version, against=against)
    return PlainTextResponse(text, media_type="text/x-diff")


@router.post(
    "/prompts/{task_type}",
    response_model=PromptOut,
    status_code=201,
    tags=["prompts"],
    dependencies=ADMIN,
)
async def create_prompt(task_type: str, body: PromptCreate, session: SessionDep) -> PromptOut:
    """Add a human-written version (active at once unless ``activate`` is false)."""
    if not _valid_task_type(task_type):
        raise HTTPException(422, "task_type must be lowercase letters, digits and underscores")
    return await prompt_service.add_human_version(
        session,
        task_type=task_type,
        content=body.content,
        reason=body.reason,
        activate=body.activate,
    )


@router.post(
    "/prompts/{task_type}/rollback",
    response_model=PromptOut,
    tags=["prompts"],
    dependencies=ADMIN,
)
async def rollback_prompt(task_type: str, body: RollbackRequest, session: SessionDep) -> PromptOut:
    """Re-activate an earlier version (default: the one live before the current)."""
    return await prompt_service.rollback(
        session,
        task_type=task_type,
        to_version=body.to_version,
        reason=body.reason,
        trigger=body.trigger,
    )


@router.get("/optimizations", response_model=list[OptimizationRunOut], tags=["optimizations"])
async def list_optimizations(
    session: SessionDep,
    limit: int = Query(20, ge=1, le=200),
    task_type: str | None = Query(None, pattern=TASK_TYPE_PATTERN),
) -> list[OptimizationRunOut]:
    rows = await optimization_runs.list_recent(session, limit=limit, task_type=task_type)
    return [OptimizationRunOut.model_validate(r) for r in rows]


@router.post(
    "/optimizations/run",
    response_model=OptimizationPassOut,
    tags=["optimizations"],
    dependencies=ADMIN,
)
async def run_optimization(
    body: OptimizationRequest, optimizer: OptimizerDep
) -> OptimizationPassOut:
    """Run one optimization now (every due task type, or the one given) and return its report."""
    reports = await optimizations.optimize_pass(
        optimizer, trigger=RunTrigger.API, task_type=body.task_type, force=body.force
    )
    return OptimizationPassOut(runs=reports)


@router.post(
    "/optimizations/{run_id}/{decision}",
    response_model=OptimizationRunOut,
    tags=["optimizations"],
    dependencies=ADMIN,
)
async def decide_optimization(
    run_id: str,
    decision: Literal["approve", "reject"],
    optimizer: OptimizerDep,
    body: ApprovalDecision | None = None,
) -> OptimizationRunOut:
    """Approve (it goes live) or reject a winner held for approval (OPTIMIZER_APPROVAL=admin);
    409 when the run is not waiting, or on approval when the live prompt changed since."""
    reason = (body or ApprovalDecision()).reason
    run = await optimizations.decide(
        optimizer, run_id=run_id, approve=decision == "approve", reason=reason
    )
    return OptimizationRunOut.model_validate(run)


@router.get("/status", response_model=SystemStatus, tags=["status"])
async def status(session: SessionDep) -> SystemStatus:
    """One line's worth: requests, recent pass rate, live versions, the model that served."""
    return await dashboard_queries.system_status(session)


def _valid_task_type(value: str) -> bool:
    return re.fullmatch(TASK_TYPE_PATTERN, value) is not None
