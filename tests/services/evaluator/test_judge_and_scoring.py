"""The judge through a registered fake provider, and the scoring configuration."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import ClassVar

import pytest
from pydantic import ValidationError

from selfheal.core.config import EvaluatorSettings, LLMSettings, SandboxSettings
from selfheal.llm.base import LLMRequest, LLMResponse, Provider, ProviderUnavailable, Role
from selfheal.llm.client import LLMClient
from selfheal.llm.registry import register_provider
from selfheal.sandbox.process import ProcessSandbox
from selfheal.services.evaluator.checks import analyse_code
from selfheal.services.evaluator.schemas import EvaluateRequest, EvaluateResponse
from selfheal.services.evaluator.service import evaluate

GOOD_VERDICT = json.dumps(
    {"relevance": 1, "correctness": 1, "quality": 1, "safety": 1, "reasoning": "fine"}
)


@register_provider
class ScriptedJudge(Provider):
    """Replies with the next scripted text, or raises when the script says so."""

    name: ClassVar[str] = "scripted-judge-test"
    needs_api_key: ClassVar[bool] = False
    script: ClassVar[list[str | Exception]] = []
    calls: ClassVar[int] = 0

    async def generate(self, request: LLMRequest) -> LLMResponse:
        type(self).calls += 1
        reply = self.script.pop(0) if self.script else GOOD_VERDICT
        if isinstance(reply, Exception):
            raise reply
        return LLMResponse(text=reply, provider=self.name, model=self.model)


@pytest.fixture
async def judge() -> AsyncIterator[LLMClient]:
    ScriptedJudge.script, ScriptedJudge.calls = [], 0
    settings = LLMSettings(provider=ScriptedJudge.name, max_retries=0)
    client = LLMClient.for_role(settings, Role.JUDGE)
    yield client
    await client.aclose()


async def _evaluate(
    judge: LLMClient, settings: EvaluatorSettings | None = None, task_type: str = "code_generation"
) -> EvaluateResponse:
    body = EvaluateRequest(
        request_id="r1",
        task_type=task_type,
        user_input="add two numbers",
        worker_output="```python\ndef add(a: int, b: int) -> int:\n    '''Add.'''\n    return a + b\n```",
        tests="assert add(1, 2) == 3\n",
        entry_point="add",
    )
    return await evaluate(
        body,
        settings=settings or EvaluatorSettings(),
        sandbox=ProcessSandbox(SandboxSettings()),
        judge=judge,
        test_writer=judge,
    )


async def test_valid_judge_verdict_passes(judge: LLMClient) -> None:
    result = await _evaluate(judge)
    assert result.passed is True and result.failure_category is None
    assert result.score == pytest.approx(1.0)


async def test_malformed_judge_output_is_repaired_once(judge: LLMClient) -> None:
    ScriptedJudge.script = ["this is not json", GOOD_VERDICT]
    result = await _evaluate(judge)
    assert result.passed is True
    assert ScriptedJudge.calls == 2


async def test_malformed_twice_gives_judge_unavailable_and_a_flagged_rule_score(
    judge: LLMClient,
) -> None:
    ScriptedJudge.script = ['{"relevance": 7}', "still not json"]
    result = await _evaluate(judge)
    assert result.passed is False
    assert result.failure_category == "judge_unavailable"
    assert result.detail.llm_score is None
    assert result.detail.judge["rule_only_score"] is True
    assert result.score == result.detail.rule_score


async def test_judge_that_raises_is_not_a_crash_nor_a_pass(judge: LLMClient) -> None:
    ScriptedJudge.script = [ProviderUnavailable("down")]
    result = await _evaluate(judge)
    assert result.passed is False
    assert result.failure_category == "judge_unavailable"
    assert "ProviderUnavailable" in result.detail.judge["error"]


async def test_per_task_type_threshold_override(judge: LLMClient) -> None:
    ScriptedJudge.script = [
        json.dumps(
            {"relevance": 1, "correctness": 0.6, "quality": 0.6, "safety": 1, "reasoning": "ok"}
        )
    ]
    strict = EvaluatorSettings(task_overrides={"strict": {"pass_threshold": 0.95, "gate_cap": 0.5}})
    result = await _evaluate(judge, strict, task_type="strict")
    assert 0.7 < result.score < 0.95
    assert result.passed is False and result.failure_category == "low_quality"


def test_overrides_are_validated_at_start_up() -> None:
    with pytest.raises(ValidationError, match=r"add up to 1\.0"):
        EvaluatorSettings(task_overrides={"sql": {"rule_weight": 0.9}})
    with pytest.raises(ValidationError, match="unknown setting"):
        EvaluatorSettings(task_overrides={"sql": {"weight": 0.9}})
    with pytest.raises(ValidationError, match="below the pass threshold"):
        EvaluatorSettings(gate_cap=0.8)


def test_dangerous_policy_comes_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVALUATOR_DANGEROUS_IMPORTS", "json, csv")
    monkeypatch.setenv("EVALUATOR_DANGEROUS_CALLS", '["print"]')
    settings = EvaluatorSettings()
    report = analyse_code(
        "import json\nimport subprocess\nprint(1)\n",
        dangerous_imports=settings.dangerous_imports,
        dangerous_calls=settings.dangerous_calls,
    )
    assert report.dangerous == ["import json", "print()"]


def test_default_policy_sees_through_aliases() -> None:
    report = analyse_code("from os import fork as f\nimport os as o\nf()\no.kill(1, 9)\n")
    assert report.dangerous == ["os.fork()", "os.kill()"]
