"""The worker's HTTP contract (SPEC §2), also used by the manager's client."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from selfheal.db.types import DB_INT_MAX
from selfheal.services.common.text import TextModel


class TaskRequest(TextModel):
    model_config = ConfigDict(extra="forbid")

    request_id: str = Field(min_length=1, max_length=64)
    task_type: str = Field(min_length=1, max_length=64)
    refined_input: str = Field(min_length=1, max_length=200_000)
    prompt_version: int | None = Field(default=None, ge=1, le=DB_INT_MAX)
    prompt_content: str | None = Field(
        default=None,
        max_length=20_000,
        description="Internal: replay an unsaved candidate prompt (optimizer validation)",
    )


class LLMUsage(BaseModel):
    provider: str
    model: str
    input_tokens: int
    output_tokens: int


class TaskResponse(BaseModel):
    request_id: str
    output: str
    prompt_version: int | None
    prompt_status: str
    latency_ms: float
    llm: LLMUsage
