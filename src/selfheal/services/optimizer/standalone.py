"""The optimizer outside the manager (CLI, CronJob, watcher): its own DB engine and LLM
clients, replaying through the worker and evaluator services over HTTP."""

from __future__ import annotations

from dataclasses import dataclass

from selfheal.core.config import Settings
from selfheal.llm.base import Role
from selfheal.services.common.runtime import Runtime, open_runtime
from selfheal.services.manager.clients import EvaluatorClient, WorkerClient
from selfheal.services.optimizer.job import OptimizerDeps
from selfheal.services.optimizer.replay import HttpReplayer


@dataclass
class StandaloneOptimizer:
    runtime: Runtime
    replayer: HttpReplayer
    deps: OptimizerDeps

    async def aclose(self) -> None:
        await self.replayer.aclose()
        await self.runtime.aclose()


def open_optimizer(settings: Settings) -> StandaloneOptimizer:
    runtime = open_runtime("optimizer", settings, [Role.ANALYST, Role.OPTIMIZER])
    svc = settings.service
    replayer = HttpReplayer(
        WorkerClient(name="worker", base_url=svc.worker_url, timeout_s=svc.request_timeout_s),
        EvaluatorClient(
            name="evaluator", base_url=svc.evaluator_url, timeout_s=svc.request_timeout_s
        ),
    )
    deps = OptimizerDeps(
        engine=runtime.engine,
        sessionmaker=runtime.sessionmaker,
        analyst=runtime.client(Role.ANALYST),
        optimizer=runtime.client(Role.OPTIMIZER),
        replayer=replayer,
        settings=settings.optimizer,
    )
    return StandaloneOptimizer(runtime, replayer, deps)
