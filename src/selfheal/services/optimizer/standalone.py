"""The optimizer's dependencies, in the manager or on its own (CLI, CronJob, watcher):
a DB engine, the analyst and optimizer LLM clients, and replay through the worker and
evaluator services over HTTP."""

from __future__ import annotations

from dataclasses import dataclass

from selfheal.core.config import Settings
from selfheal.llm.base import Role
from selfheal.services.common.clients import service_clients
from selfheal.services.common.runtime import Runtime, open_runtime
from selfheal.services.optimizer.deps import OptimizerDeps
from selfheal.services.optimizer.replay import HttpReplayer


def optimizer_deps(runtime: Runtime, replayer: HttpReplayer) -> OptimizerDeps:
    return OptimizerDeps(
        engine=runtime.engine,
        sessionmaker=runtime.sessionmaker,
        analyst=runtime.client(Role.ANALYST),
        optimizer=runtime.client(Role.OPTIMIZER),
        replayer=replayer,
        settings=runtime.settings.optimizer,
    )


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
    replayer = HttpReplayer(*service_clients(settings.service))
    return StandaloneOptimizer(runtime, replayer, optimizer_deps(runtime, replayer))
