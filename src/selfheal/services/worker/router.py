from __future__ import annotations

from fastapi import APIRouter

from selfheal.llm.base import Role
from selfheal.services.common.deps import RuntimeDep
from selfheal.services.worker.schemas import TaskRequest, TaskResponse
from selfheal.services.worker.service import run_task

router = APIRouter(prefix="/api/v1", tags=["worker"])


@router.post("/task", response_model=TaskResponse)
async def task(body: TaskRequest, runtime: RuntimeDep) -> TaskResponse:
    """Generate an answer with the live (or the pinned) prompt version."""
    return await run_task(body, sessions=runtime.sessionmaker, llm=runtime.client(Role.WORKER))
