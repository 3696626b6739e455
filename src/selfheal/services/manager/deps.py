"""The manager's typed dependencies (its state is made once at start-up)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from selfheal.services.common.clients import EvaluatorClient, WorkerClient
from selfheal.services.common.deps import RuntimeDep
from selfheal.services.manager.state import ManagerState
from selfheal.services.optimizer.deps import OptimizerDeps


def get_state(runtime: RuntimeDep) -> ManagerState:
    return runtime.state_as(ManagerState)


StateDep = Annotated[ManagerState, Depends(get_state)]


def get_worker(state: StateDep) -> WorkerClient:
    return state.worker


def get_evaluator(state: StateDep) -> EvaluatorClient:
    return state.evaluator


def get_optimizer(state: StateDep) -> OptimizerDeps:
    return state.optimizer


WorkerDep = Annotated[WorkerClient, Depends(get_worker)]
EvaluatorDep = Annotated[EvaluatorClient, Depends(get_evaluator)]
OptimizerDep = Annotated[OptimizerDeps, Depends(get_optimizer)]
