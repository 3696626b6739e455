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
    # One sentence: the scores are the verdict, and on a CPU model every output token is
    # ~0.1 s of the request's latency (a JSON-schema grammar enforces the length).
    reasoning: str = Field(max_length=160)


class GeneratedTests(_Strict):
    tests: str = Field(description="Python test code: plain asserts calling the entry point")
    entry_point: str | None = None


class RootCause(_Strict):
    category: str = Field(max_length=64)
    cause: str = Field(max_length=1000)
    instruction: str = Field(max_length=500, description="An instruction for the system prompt")


class FailureAnalysis(_Strict):
    summary: str = Field(max_length=1000)
    root_causes: list[RootCause] = Field(max_length=6)


class PromptEdit(_Strict):
    """The optimizer's reply: lines of the current prompt to drop and rules to add. An edit
    is easier for a small model to get right than a whole new prompt, and it cannot lose
    the lines that work by accident."""

    remove: list[int] = Field(default_factory=list, max_length=40, description="Line numbers")
    add: list[str] = Field(default_factory=list, max_length=8)
    rationale: str = Field(max_length=1000)

    def apply(self, current: str) -> str:
        """The current prompt without the removed lines and with the added rules, in order."""
        lines = [line for line in current.splitlines() if line.strip()]
        dropped = set(self.remove)
        kept = [line for number, line in enumerate(lines, start=1) if number not in dropped]
        for rule in self.add:
            rule = " ".join(rule.split())
            if rule and rule not in kept:
                kept.append(rule)
        return "\n".join(kept)


class PromptPatch(_Strict):
    prompt: str = Field(min_length=1, max_length=20000)
    rationale: str = Field(max_length=4000)
