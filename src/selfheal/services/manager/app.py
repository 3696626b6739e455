"""Manager :8000 — the public gateway: refine -> worker -> evaluator -> log."""

from __future__ import annotations

from fastapi import FastAPI

from selfheal.core.config import Settings
from selfheal.llm.base import Role
from selfheal.services.common.app import create_service_app
from selfheal.services.common.runtime import Runtime
from selfheal.services.common.stats_router import router as stats_router
from selfheal.services.manager.clients import EvaluatorClient, WorkerClient
from selfheal.services.manager.router import router
from selfheal.services.optimizer.job import OptimizerDeps
from selfheal.services.optimizer.replay import HttpReplayer


async def _start(runtime: Runtime) -> None:
    svc = runtime.settings.service
    worker = WorkerClient(name="worker", base_url=svc.worker_url, timeout_s=svc.request_timeout_s)
    evaluator = EvaluatorClient(
        name="evaluator", base_url=svc.evaluator_url, timeout_s=svc.request_timeout_s
    )
    runtime.extras["worker"] = worker
    runtime.extras["evaluator"] = evaluator
    runtime.extras["optimizer"] = OptimizerDeps(
        engine=runtime.engine,
        sessionmaker=runtime.sessionmaker,
        analyst=runtime.client(Role.ANALYST),
        optimizer=runtime.client(Role.OPTIMIZER),
        replayer=HttpReplayer(worker, evaluator),
        settings=runtime.settings.optimizer,
    )


async def _stop(runtime: Runtime) -> None:
    await runtime.extras["worker"].aclose()
    await runtime.extras["evaluator"].aclose()


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        service="manager",
        title="selfheal manager",
        routers=[router, stats_router],
        roles=[Role.REFINER, Role.ANALYST, Role.OPTIMIZER],
        on_start=_start,
        on_stop=_stop,
        settings=settings,
    )
