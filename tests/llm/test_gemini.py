"""The gemini provider (google-genai SDK) against a local server speaking the Gemini API."""

from __future__ import annotations

import pytest

from selfheal.llm.base import LLMRequest, ProviderRejected, RateLimited, Role
from selfheal.llm.schemas import PromptPatch
from selfheal.testing.protocol_servers import Fault, GeminiServer
from tests.llm.conftest import API_KEY, make_provider

REQUEST = LLMRequest(
    role=Role.WORKER,
    system="Reply in a fenced code block. Use exactly the function name asked for.",
    prompt="Write a function that checks whether an integer is a prime number.",
)


async def test_generate_content_with_the_api_key_header_and_system_instruction() -> None:
    with GeminiServer(api_key=API_KEY) as server:
        provider = make_provider("gemini", server, model="gemini-2.0-flash")
        try:
            response = await provider.generate(REQUEST)
        finally:
            await provider.aclose()

    seen = server.requests[-1]
    assert seen.method == "POST"
    assert seen.path.endswith("/models/gemini-2.0-flash:generateContent")
    assert seen.headers["x-goog-api-key"] == API_KEY
    assert seen.body["systemInstruction"]["parts"] == [{"text": REQUEST.system}]
    assert seen.body["contents"][-1]["parts"] == [{"text": REQUEST.prompt}]
    assert seen.body["generationConfig"]["maxOutputTokens"] == REQUEST.max_tokens
    assert "def is_prime" in response.text
    assert response.model == "gemini-2.0-flash"


async def test_structured_output_asks_for_json_with_the_schema() -> None:
    with GeminiServer(api_key=API_KEY) as server:
        provider = make_provider("gemini", server)
        try:
            await provider.generate(
                LLMRequest(
                    role=Role.OPTIMIZER,
                    system="s",
                    prompt="p",
                    json_schema=PromptPatch.model_json_schema(),
                )
            )
        finally:
            await provider.aclose()

    config = server.requests[-1].body["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert config["responseJsonSchema"] == PromptPatch.model_json_schema()


async def test_the_retry_delay_of_a_429_comes_from_google_rpc_retry_info() -> None:
    with GeminiServer(api_key=API_KEY) as server:
        provider = make_provider("gemini", server)
        server.fail_next(Fault.rate_limit(retry_after=4))
        try:
            with pytest.raises(RateLimited) as caught:
                await provider.generate(REQUEST)
        finally:
            await provider.aclose()

    assert caught.value.retry_after == 4.0


async def test_an_invalid_key_is_googles_400_and_is_rejected() -> None:
    with GeminiServer(api_key=API_KEY) as server:
        provider = make_provider("gemini", server, api_key="AIza-not-the-right-key-000")
        try:
            with pytest.raises(ProviderRejected, match="API key not valid"):
                await provider.generate(REQUEST)
        finally:
            await provider.aclose()
