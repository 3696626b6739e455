"""The evaluator's typed dependencies (its sandbox is started once at start-up)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from selfheal.llm.base import Role
from selfheal.llm.client import LLMClient
from selfheal.sandbox.base import Sandbox
from selfheal.services.common.deps import RuntimeDep
from selfheal.services.evaluator.state import EvaluatorState


def get_sandbox(runtime: RuntimeDep) -> Sandbox:
    return runtime.state_as(EvaluatorState).sandbox


def get_judge(runtime: RuntimeDep) -> LLMClient:
    return runtime.client(Role.JUDGE)


def get_test_writer(runtime: RuntimeDep) -> LLMClient:
    return runtime.client(Role.TEST_WRITER)


SandboxDep = Annotated[Sandbox, Depends(get_sandbox)]
JudgeDep = Annotated[LLMClient, Depends(get_judge)]
TestWriterDep = Annotated[LLMClient, Depends(get_test_writer)]
