from __future__ import annotations

from fastapi import APIRouter

from selfheal.services.common.deps import SettingsDep
from selfheal.services.evaluator.deps import JudgeDep, SandboxDep, TestWriterDep
from selfheal.services.evaluator.schemas import EvaluateRequest, EvaluateResponse
from selfheal.services.evaluator.service import evaluate

router = APIRouter(prefix="/api/v1", tags=["evaluator"])


@router.post("/evaluate", response_model=EvaluateResponse)
async def evaluate_endpoint(
    body: EvaluateRequest,
    settings: SettingsDep,
    sandbox: SandboxDep,
    judge: JudgeDep,
    test_writer: TestWriterDep,
) -> EvaluateResponse:
    """Score one worker output: sandboxed tests, static checks and the LLM judge."""
    return await evaluate(
        body, settings=settings.evaluator, sandbox=sandbox, judge=judge, test_writer=test_writer
    )
