"""The seed's statistics endpoints, served by the manager and the evaluator."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from selfheal.db import stats
from selfheal.services.common.deps import SessionDep

router = APIRouter(prefix="/api/v1/stats", tags=["stats"])


@router.get("/summary")
async def summary(session: SessionDep, hours: int = Query(24, ge=1, le=24 * 365)) -> dict[str, Any]:
    return await stats.summary(session, hours=hours)


@router.get("/by-task-type")
async def by_task_type(session: SessionDep) -> list[dict[str, Any]]:
    return await stats.by_task_type(session)


@router.get("/score-distribution")
async def score_distribution(session: SessionDep) -> list[dict[str, Any]]:
    return await stats.score_distribution(session)


@router.get("/recent-failures")
async def recent_failures(
    session: SessionDep, limit: int = Query(20, ge=1, le=500)
) -> list[dict[str, Any]]:
    return await stats.recent_failures(session, limit=limit)


@router.get("/prompt-performance")
async def prompt_performance(session: SessionDep) -> list[dict[str, Any]]:
    return await stats.prompt_performance(session)
