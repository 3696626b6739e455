"""Evaluator :8002 — runs the code and its tests in a sandbox, static checks, LLM judge."""

from __future__ import annotations

from fastapi import FastAPI

from selfheal.core.config import Settings
from selfheal.llm.base import Role
from selfheal.sandbox.registry import start_sandbox
from selfheal.services.common.app import create_service_app
from selfheal.services.common.runtime import Runtime
from selfheal.services.common.stats_router import router as stats_router
from selfheal.services.evaluator.router import router
from selfheal.services.evaluator.state import EvaluatorState


async def _start(runtime: Runtime) -> EvaluatorState:
    # Never raises for a missing sandbox: a RefusingSandbox makes /ready and every
    # evaluation say what is missing, which a crash loop would not.
    return EvaluatorState(sandbox=await start_sandbox(runtime.settings.sandbox))


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        service="evaluator",
        title="selfheal evaluator",
        routers=[router, stats_router],
        roles=[Role.JUDGE, Role.TEST_WRITER],
        on_start=_start,
        settings=settings,
    )
