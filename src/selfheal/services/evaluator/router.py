from __future__ import annotations

from fastapi import APIRouter

from selfheal.llm.base import Role
from selfheal.services.common.deps import RuntimeDep
from selfheal.services.evaluator.schemas import EvaluateRequest, EvaluateResponse
from selfheal.services.evaluator.service import evaluate

router = APIRouter(prefix="/api/v1", tags=["evaluator"])


@router.post("/evaluate", response_model=EvaluateResponse)
async def evaluate_endpoint(body: EvaluateRequest, runtime: RuntimeDep) -> EvaluateResponse:
    """Score one worker output: sandboxed tests, static checks and the LLM judge."""
    return await evaluate(
        body,
        settings=runtime.settings.evaluator,
        sandbox=runtime.extras["sandbox"],
        judge=runtime.client(Role.JUDGE),
        test_writer=runtime.client(Role.TEST_WRITER),
    )
