"""The openai provider against a local server speaking OpenAI's chat-completions protocol
(the protocol Ollama, vLLM, LM Studio and llama.cpp's server speak too)."""

from __future__ import annotations

import pytest

from selfheal.llm.base import LLMRequest, ProviderRejected, Role
from selfheal.llm.client import LLMClient
from selfheal.llm.prompts import TEST_WRITER_SYSTEM, data_message
from selfheal.llm.registry import build_provider
from selfheal.llm.schemas import GeneratedTests
from selfheal.testing.protocol_servers import OpenAIServer
from tests.llm.conftest import API_KEY, llm_settings, make_provider

REQUEST = LLMRequest(
    role=Role.WORKER,
    system="Reply in a fenced code block. Use exactly the function name asked for.",
    prompt="Write a function that checks whether an integer is a prime number.",
)


async def test_chat_completions_with_bearer_auth_and_both_messages() -> None:
    with OpenAIServer(api_key=API_KEY) as server:
        provider = make_provider("openai", server)
        try:
            response = await provider.generate(REQUEST)
        finally:
            await provider.aclose()

    seen = server.requests[-1]
    assert (seen.method, seen.path) == ("POST", "/v1/chat/completions")
    assert seen.headers["authorization"] == f"Bearer {API_KEY}"
    assert seen.body["messages"] == [
        {"role": "system", "content": REQUEST.system},
        {"role": "user", "content": REQUEST.prompt},
    ]
    # A server behind LLM_BASE_URL (Ollama, llama.cpp, LM Studio) reads max_tokens.
    assert seen.body["max_tokens"] == REQUEST.max_tokens
    assert "def is_prime" in response.text


async def test_structured_output_uses_response_format_json_schema() -> None:
    with OpenAIServer(api_key=API_KEY) as server:
        provider = make_provider("openai", server)
        client = LLMClient(provider, Role.TEST_WRITER, llm_settings())
        try:
            tests, _ = await client.generate_json(
                LLMRequest(
                    role=Role.TEST_WRITER,
                    system=TEST_WRITER_SYSTEM,
                    prompt=data_message(
                        "Write tests.",
                        {
                            "request": "Write a function that returns the greatest common "
                            "divisor of two integers.",
                            "entry_point": "gcd",
                        },
                    ),
                ),
                GeneratedTests,
            )
        finally:
            await provider.aclose()

    fmt = server.requests[-1].body["response_format"]
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"]["name"] == "GeneratedTests"
    assert fmt["json_schema"]["schema"] == GeneratedTests.model_json_schema()
    assert "assert gcd(12, 18) == 6" in tests.tests


async def test_a_keyless_local_server_works_with_only_a_base_url() -> None:
    with OpenAIServer(api_key=None) as server:  # like Ollama: no auth at all
        settings = llm_settings(provider=None, api_key=None, base_url=server.base_url)
        assert settings.effective_provider == "openai"
        provider = build_provider(settings, Role.WORKER)
        try:
            response = await provider.generate(REQUEST)
        finally:
            await provider.aclose()

    assert response.provider == "openai"
    assert server.requests[-1].headers["authorization"] == "Bearer not-needed"


async def test_a_request_the_server_refuses_is_rejected_not_retried() -> None:
    with OpenAIServer(api_key=API_KEY) as server:
        provider = make_provider("openai", server, model="")  # the API requires a model
        client = LLMClient(provider, Role.WORKER, llm_settings())
        try:
            with pytest.raises(ProviderRejected, match="HTTP 400"):
                await client.generate(REQUEST)
        finally:
            await provider.aclose()

    assert len(server.requests) == 1
