"""The manager's typed dependencies (clients created once at start-up)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from selfheal.services.common.clients import EvaluatorClient, WorkerClient
from selfheal.services.common.deps import RuntimeDep
from selfheal.services.optimizer.deps import OptimizerDeps


def get_worker(runtime: RuntimeDep) -> WorkerClient:
    client: WorkerClient = runtime.extras["worker"]
    return client


def get_evaluator(runtime: RuntimeDep) -> EvaluatorClient:
    client: EvaluatorClient = runtime.extras["evaluator"]
    return client


def get_optimizer(runtime: RuntimeDep) -> OptimizerDeps:
    deps: OptimizerDeps = runtime.extras["optimizer"]
    return deps


WorkerDep = Annotated[WorkerClient, Depends(get_worker)]
EvaluatorDep = Annotated[EvaluatorClient, Depends(get_evaluator)]
OptimizerDep = Annotated[OptimizerDeps, Depends(get_optimizer)]
