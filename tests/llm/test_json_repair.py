"""Structured output from small models: a JSON object is dug out of fences and prose
without another call; only a reply with no valid object gets the one re-ask. Against the
local OpenAI-protocol server (what llama.cpp's server speaks)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from selfheal.llm.base import LLMRequest, Role, StructuredOutputError
from selfheal.llm.client import LLMClient, json_objects, parse_json_reply
from selfheal.llm.prompts import ANALYST_SYSTEM, OPTIMIZER_SYSTEM, data_message
from selfheal.llm.schemas import FailureAnalysis, PromptEdit
from selfheal.testing.protocol_servers import SERVERS, Fault, ProtocolServer
from tests.llm.conftest import API_KEY, llm_settings, make_provider

ANALYSIS = '{"summary": "no code", "root_causes": [{"category": "no_code", "cause": "c", "instruction": "i"}]}'


@pytest.fixture
async def server() -> AsyncIterator[ProtocolServer]:
    with SERVERS["openai"](api_key=API_KEY) as running:
        yield running


@pytest.fixture
async def analyst(server: ProtocolServer) -> AsyncIterator[LLMClient]:
    provider = make_provider("openai", server)
    client = LLMClient(
        provider,
        Role.ANALYST,
        llm_settings(provider="openai", api_key=API_KEY, base_url=server.base_url),
    )
    yield client
    await client.aclose()


def _request() -> LLMRequest:
    prompt = data_message("Diagnose.", {"failure_counts": {"no_code": 3}, "examples": []})
    return LLMRequest(role=Role.ANALYST, system=ANALYST_SYSTEM, prompt=prompt)


async def test_json_in_a_fence_after_prose_is_used_without_a_second_call(
    server: ProtocolServer, analyst: LLMClient
) -> None:
    server.fail_next(
        Fault.reply(f"Sure! Here is my analysis:\n```json\n{ANALYSIS}\n```\nHope it helps.")
    )

    analysis, calls = await analyst.generate_json(_request(), FailureAnalysis)

    assert calls == 1 and len(server.exchanges()) == 1
    assert analysis.root_causes[0].category == "no_code"


async def test_a_reply_without_json_gets_one_reask_that_shows_the_reply_and_errors(
    server: ProtocolServer, analyst: LLMClient
) -> None:
    server.fail_next(Fault.reply("The prompt is bad because it says hello world. " * 200))

    analysis, calls = await analyst.generate_json(_request(), FailureAnalysis)

    reask = server.exchanges()[-1].prompt
    assert calls == 2 and len(server.exchanges()) == 2
    assert "could not be used" in reask and "the reply contains no JSON object" in reask
    assert len(reask) < len(_request().prompt) + 2500  # the bad reply is clipped
    assert analysis.summary


async def test_two_malformed_replies_end_as_a_structured_output_error(
    server: ProtocolServer, analyst: LLMClient
) -> None:
    server.fail_next(Fault.reply('{"summary": "cut off'), Fault.reply('{"root_causes": 3}'))

    with pytest.raises(StructuredOutputError, match="FailureAnalysis twice"):
        await analyst.generate_json(_request(), FailureAnalysis)


async def test_the_schema_travels_to_the_server_so_a_grammar_can_enforce_it(
    server: ProtocolServer, analyst: LLMClient
) -> None:
    await analyst.generate_json(
        LLMRequest(role=Role.OPTIMIZER, system=OPTIMIZER_SYSTEM, prompt="Edit."), PromptEdit
    )

    assert server.exchanges()[-1].json_schema == PromptEdit.model_json_schema()


def test_the_first_object_that_validates_wins_over_an_earlier_one_that_does_not() -> None:
    text = (
        'Shape: {"remove": [<line numbers>]}. Answer: {"remove": [2], "add": [], "rationale": "r"}'
    )

    edit = parse_json_reply(text, PromptEdit)

    assert edit.remove == [2]
    assert len(json_objects('{"a": 1} and {"b": {"c": 2}}')) == 2
