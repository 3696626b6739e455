"""The evaluator's HTTP contract (SPEC §2), also used by the manager's client."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from selfheal.services.common.text import TextModel

FailureCategory = Literal[
    "no_code",
    "syntax_error",
    "runtime_error",
    "test_failure",
    "timeout",
    "unsafe_code",
    "off_topic",
    "low_quality",
    "judge_unavailable",
]


class EvaluateRequest(TextModel):
    model_config = ConfigDict(extra="forbid")

    request_id: str = Field(min_length=1, max_length=64)
    task_type: str = Field(min_length=1, max_length=64)
    user_input: str = Field(max_length=200_000)
    refined_input: str = Field(default="", max_length=200_000)
    worker_output: str = Field(max_length=1_000_000)
    tests: str | None = Field(default=None, max_length=200_000)
    entry_point: str | None = Field(default=None, max_length=128)


class EvaluationDetail(BaseModel):
    rule_score: float
    llm_score: float | None
    gates: list[str]
    checks: dict[str, Any]
    execution: dict[str, Any] | None
    judge: dict[str, Any]
    tests_origin: Literal["provided", "generated"] | None = None
    tests: str | None = None
    code_source: str | None = None


class EvaluateResponse(BaseModel):
    request_id: str
    score: float
    passed: bool
    failure_category: FailureCategory | None
    code: str | None = None
    detail: EvaluationDetail
