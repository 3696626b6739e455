"""The manager's public HTTP contract (SPEC §2). The seed's field names keep their meaning."""

from __future__ import annotations

import ast
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from selfheal.db.models import RunKind, RunTrigger
from selfheal.db.types import DB_INT_MAX
from selfheal.services.common.text import TextModel
from selfheal.services.optimizer.report import RunReport

TASK_TYPE_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
IDENTIFIER_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"


class CodeRequest(TextModel):
    model_config = ConfigDict(extra="forbid")

    user_input: str = Field(min_length=1, max_length=20_000, description="What to build")
    task_type: str = Field(default="code_generation", pattern=TASK_TYPE_PATTERN)
    tests: str | None = Field(
        default=None, max_length=100_000, description="Python asserts or test_* functions"
    )
    entry_point: str | None = Field(
        default=None, pattern=IDENTIFIER_PATTERN, description="The function the tests call"
    )

    @field_validator("user_input")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("user_input must contain some text, not only whitespace")
        return value

    @field_validator("tests")
    @classmethod
    def _tests_parse(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        try:
            ast.parse(value)
        except SyntaxError as exc:
            raise ValueError(f"tests are not valid Python: {exc.msg} (line {exc.lineno})") from None
        except ValueError as exc:  # Python 3.11: "source code string cannot contain null bytes"
            raise ValueError(f"tests are not valid Python: {exc}") from None
        return value


class Latency(BaseModel):
    refine: float
    worker: float
    evaluator: float
    total: float


class CodeResponse(BaseModel):
    request_id: str
    task_type: str
    refined_input: str
    worker_output: str
    code: str | None
    evaluation_score: float
    evaluation_passed: bool
    failure_category: str | None
    prompt_version: int | None
    latency_ms: Latency
    evaluation_detail: dict[str, Any]


class ExecutionLogOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    request_id: str
    task_type: str
    status: str
    user_input: str
    refined_input: str | None
    worker_output: str | None
    code: str | None
    evaluation_score: float | None
    evaluation_passed: bool
    failure_category: str | None
    prompt_version: int | None
    prompt_status: str | None
    provider: str | None
    model: str | None
    input_tokens: int | None
    output_tokens: int | None
    latency_total_ms: float | None
    error: str | None
    created_at: datetime
    evaluation_detail: dict[str, Any] | None = None


class PromptOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    task_type: str
    version: int
    status: str
    content: str
    parent_version: int | None
    author: str
    reason: str
    canary_share: float | None
    created_at: datetime
    activated_at: datetime | None
    stats: dict[str, float] | None = None


class PromptCreate(TextModel):
    model_config = ConfigDict(extra="forbid")

    content: str = Field(min_length=1, max_length=20_000)
    reason: str = Field(default="written by a person", max_length=2_000)
    activate: bool = True

    @field_validator("content")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("content must contain some text, not only whitespace")
        return value


class RollbackRequest(TextModel):
    model_config = ConfigDict(extra="forbid")

    to_version: int | None = Field(default=None, ge=1, le=DB_INT_MAX)
    reason: str = Field(default="manual rollback through the API", max_length=2_000)
    trigger: Literal[RunTrigger.API, RunTrigger.CLI] = RunTrigger.API


class OptimizationRequest(TextModel):
    model_config = ConfigDict(extra="forbid")

    task_type: str | None = Field(default=None, pattern=TASK_TYPE_PATTERN)
    force: bool = False


class ApprovalDecision(TextModel):
    """An admin's answer to a candidate held by ``OPTIMIZER_APPROVAL=admin``."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="decided through the API", max_length=2_000)


class OptimizationRunOut(RunReport):
    """A stored run (``GET /optimizations``, an admin's decision)."""

    run_id: str
    kind: RunKind
    trigger: RunTrigger
    started_at: datetime


class OptimizationPassOut(BaseModel):
    """``POST /optimizations/run``: the report of every task type the pass looked at (runs,
    skips with their reason, and the monitor's canary and rollback decisions)."""

    runs: list[RunReport]


class LiveVersion(BaseModel):
    task_type: str
    version: int
    status: str
    canary_share: float | None


class SystemStatus(BaseModel):
    """What `selfheal up` shows on its status line and the dashboard in its header."""

    total_requests: int
    last_hour_requests: int
    last_hour_pass_rate: float | None
    live: list[LiveVersion]
    provider: str | None
    model: str | None
