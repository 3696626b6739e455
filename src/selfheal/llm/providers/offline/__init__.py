"""The offline model: a deterministic simulator that follows its system prompt.

It needs no key and no network, so the whole loop runs and is tested anywhere. It
behaves per role (docs/offline-model.md):

- refiner: returns the request as a specification, unchanged in meaning;
- worker: reads the system prompt's instructions (``instructions.RULES``) and writes
  code from its catalog accordingly — fenced or mixed with prose, exact or generic
  function name, edge cases handled or not, docstrings and type hints or not — or
  "Hello world!" under a sabotage prompt; an unknown task gets a stub that fails tests;
- judge: scores from the evidence in its input (tests, static checks);
- test_writer: the catalog's tests for tasks it knows, none otherwise;
- analyst / optimizer: instructions for the failure categories and examples shown.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import ClassVar

from selfheal.llm.base import LLMRequest, LLMResponse, Provider, Role
from selfheal.llm.prompts import (
    ANALYST_SYSTEM,
    JUDGE_SYSTEM,
    OPTIMIZER_SYSTEM,
    REFINER_SYSTEM,
    TEST_WRITER_SYSTEM,
    read_data,
)
from selfheal.llm.providers.offline import doctor, reviewer
from selfheal.llm.providers.offline.instructions import read_instructions
from selfheal.llm.providers.offline.writer import write_answer
from selfheal.llm.registry import register_provider

_ROLE_PROMPTS = {
    REFINER_SYSTEM: Role.REFINER,
    JUDGE_SYSTEM: Role.JUDGE,
    TEST_WRITER_SYSTEM: Role.TEST_WRITER,
    ANALYST_SYSTEM: Role.ANALYST,
    OPTIMIZER_SYSTEM: Role.OPTIMIZER,
}


def _tokens(text: str) -> int:
    return max(1, len(text) // 4)


def infer_role(system: str) -> Role:
    """The role a system prompt gives the model: a fixed role prompt, else the worker's.

    A wire protocol carries no role, so a server that answers with the offline model
    (``selfheal.testing.protocol_servers``) recognises it from the system prompt.
    """
    return _ROLE_PROMPTS.get(system.strip(), Role.WORKER)


@register_provider
class OfflineProvider(Provider):
    name: ClassVar[str] = "offline"
    needs_api_key: ClassVar[bool] = False

    async def generate(self, request: LLMRequest) -> LLMResponse:
        text = self.respond(request)
        return LLMResponse(
            text=text,
            provider=self.name,
            model=self.model,
            input_tokens=_tokens(request.system) + _tokens(request.prompt),
            output_tokens=_tokens(text),
        )

    def respond(self, request: LLMRequest) -> str:
        """The deterministic reply for a role (pure function of system prompt and input)."""
        return _respond(request.role, request.system, request.prompt)


@lru_cache(maxsize=4096)
def _respond(role: Role, system: str, prompt: str) -> str:
    """Memoised: the model is a pure function, and traffic repeats (the same prompt and
    catalog request), so a warm process answers from memory instead of re-rendering code."""
    if role is Role.WORKER:
        return write_answer(prompt, read_instructions(system))
    if role is Role.REFINER:
        return prompt.strip()
    data = read_data(prompt)
    if role is Role.JUDGE:
        return json.dumps(reviewer.judge(data))
    if role is Role.TEST_WRITER:
        return json.dumps(reviewer.write_tests(data))
    if role is Role.ANALYST:
        return json.dumps(doctor.analyse(data))
    if role is Role.OPTIMIZER:
        return json.dumps(doctor.patch_prompt(data))
    raise ValueError(f"the offline model has no behaviour for role {role}")
