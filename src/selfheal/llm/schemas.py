"""Structured outputs of the judge, test-writer, analyst and optimizer roles."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class JudgeVerdict(_Strict):
    relevance: float = Field(ge=0, le=1, description="Does the code address the request?")
    correctness: float = Field(ge=0, le=1, description="Is it correct, given the evidence?")
    quality: float = Field(ge=0, le=1, description="Readability, docstrings, type hints, idiom")
    safety: float = Field(ge=0, le=1, description="Free of dangerous or unwanted side effects?")
    reasoning: str = Field(max_length=4000)


class GeneratedTests(_Strict):
    tests: str = Field(description="Python test code: plain asserts calling the entry point")
    entry_point: str | None = None


class RootCause(_Strict):
    category: str
    cause: str = Field(max_length=2000)
    instruction: str = Field(max_length=2000, description="An instruction for the system prompt")


class FailureAnalysis(_Strict):
    summary: str = Field(max_length=4000)
    root_causes: list[RootCause]


class PromptPatch(_Strict):
    prompt: str = Field(min_length=1, max_length=20000)
    rationale: str = Field(max_length=4000)
