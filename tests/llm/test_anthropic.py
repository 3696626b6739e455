"""The anthropic provider against a local server speaking the Messages API."""

from __future__ import annotations

import json

from selfheal.llm.base import LLMRequest, Role
from selfheal.llm.client import LLMClient
from selfheal.llm.prompts import JUDGE_SYSTEM, data_message
from selfheal.llm.providers.anthropic import REPLY_TOOL
from selfheal.llm.schemas import JudgeVerdict
from selfheal.testing.protocol_servers import AnthropicServer, Fault
from tests.llm.conftest import API_KEY, SleepRecorder, llm_settings, make_provider

REQUEST = LLMRequest(
    role=Role.WORKER,
    system="Reply in a fenced code block. Use exactly the function name asked for.",
    prompt="Write a function that checks whether an integer is a prime number.",
)


async def test_messages_api_with_key_version_header_and_top_level_system() -> None:
    with AnthropicServer(api_key=API_KEY) as server:
        provider = make_provider("anthropic", server)
        try:
            response = await provider.generate(REQUEST)
        finally:
            await provider.aclose()

    seen = server.requests[-1]
    assert (seen.method, seen.path) == ("POST", "/v1/messages")
    assert seen.headers["x-api-key"] == API_KEY
    assert seen.headers["anthropic-version"]
    assert seen.body["system"] == REQUEST.system
    assert seen.body["messages"] == [{"role": "user", "content": REQUEST.prompt}]
    assert seen.body["max_tokens"] == REQUEST.max_tokens
    assert "def is_prime" in response.text


async def test_structured_output_is_a_forced_tool_call() -> None:
    with AnthropicServer(api_key=API_KEY) as server:
        provider = make_provider("anthropic", server)
        client = LLMClient(provider, Role.JUDGE, llm_settings())
        prompt = data_message(
            "Evaluate.", {"request": "factorial", "code": "def f(): pass", "evidence": {}}
        )
        try:
            response = await provider.generate(
                LLMRequest(
                    role=Role.JUDGE,
                    system=JUDGE_SYSTEM,
                    prompt=prompt,
                    json_schema=JudgeVerdict.model_json_schema(),
                )
            )
            verdict, used = await client.generate_json(
                LLMRequest(role=Role.JUDGE, system=JUDGE_SYSTEM, prompt=prompt), JudgeVerdict
            )
        finally:
            await provider.aclose()

    body = server.requests[-1].body
    assert body["tools"][0]["name"] == REPLY_TOOL
    assert body["tools"][0]["input_schema"] == JudgeVerdict.model_json_schema()
    assert body["tool_choice"] == {"type": "tool", "name": REPLY_TOOL}
    assert response.raw["stop_reason"] == "tool_use"
    assert JudgeVerdict.model_validate(json.loads(response.text)) == verdict
    assert used == 1


async def test_overloaded_529_is_retried() -> None:
    with AnthropicServer(api_key=API_KEY) as server:
        provider = make_provider("anthropic", server)
        sleeps = SleepRecorder()
        client = LLMClient(provider, Role.WORKER, llm_settings(), sleep=sleeps)
        server.fail_next(Fault.server_error(529))
        try:
            response = await client.generate(REQUEST)
        finally:
            await provider.aclose()

    assert "def is_prime" in response.text
    assert len(sleeps.waits) == 1
    assert len(server.requests) == 2
