"""Behaviour every real provider shares, each through its official SDK against a local
server speaking its wire protocol (the ``wire`` fixture runs each test per provider)."""

from __future__ import annotations

import logging

import pytest
from prometheus_client import REGISTRY

from selfheal.llm.base import (
    LLMRequest,
    ProviderRejected,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
    Role,
)
from selfheal.llm.prompts import JUDGE_SYSTEM, data_message
from selfheal.llm.providers.offline import OfflineProvider
from selfheal.llm.schemas import JudgeVerdict
from selfheal.testing.protocol_servers import Fault
from tests.llm.conftest import API_KEY, Wire, make_provider

WORKER_SYSTEM = (
    "You are an expert Python engineer. Reply with the code only, in one fenced code block. "
    "Use exactly the function name the user asks for. Handle edge cases."
)
FACTORIAL = "Write a function that computes the factorial of a non-negative integer n."


def worker_request(prompt: str = FACTORIAL) -> LLMRequest:
    return LLMRequest(role=Role.WORKER, system=WORKER_SYSTEM, prompt=prompt)


def offline_reply(request: LLMRequest) -> str:
    model = OfflineProvider(model="offline-sim-1", api_key=None, base_url=None, timeout_s=1)
    return model.respond(request)


def calls(wire: Wire, role: Role, outcome: str) -> float:
    value = REGISTRY.get_sample_value(
        "selfheal_llm_calls_total",
        {"provider": wire.name, "model": "test-model", "role": role.value, "outcome": outcome},
    )
    return value or 0.0


async def test_a_request_reaches_the_server_and_the_reply_comes_back(wire: Wire) -> None:
    response = await wire.provider.generate(worker_request())

    assert response.text == offline_reply(worker_request())
    assert response.provider == wire.name
    seen = wire.server.exchanges()[-1]
    assert (seen.model, seen.system, seen.prompt) == ("test-model", WORKER_SYSTEM, FACTORIAL)


async def test_token_counts_come_from_the_usage_the_server_reports(wire: Wire) -> None:
    response = await wire.provider.generate(worker_request())

    assert response.input_tokens == len(WORKER_SYSTEM) // 4 + len(FACTORIAL) // 4
    assert response.output_tokens == len(response.text) // 4


async def test_structured_output_is_requested_with_the_schema_and_validated(wire: Wire) -> None:
    client, _ = wire.client(Role.JUDGE)
    prompt = data_message(
        "Evaluate the candidate code.",
        {
            "request": FACTORIAL,
            "code": "def factorial(n):\n    return 1\n",
            "evidence": {
                "static": {"syntax_ok": True, "functions": ["factorial"]},
                "tests": {"total": 4, "passed": 1},
                "execution": {"status": "ok"},
            },
        },
    )

    verdict, used = await client.generate_json(
        LLMRequest(role=Role.JUDGE, system=JUDGE_SYSTEM, prompt=prompt), JudgeVerdict
    )

    assert used == 1
    assert verdict.correctness < 0.5
    assert wire.server.exchanges()[-1].json_schema == JudgeVerdict.model_json_schema()


async def test_an_invalid_structured_reply_is_repaired_once(wire: Wire) -> None:
    client, _ = wire.client(Role.JUDGE)
    wire.server.fail_next(Fault.reply("I think the code is fine!"))
    prompt = data_message("Evaluate.", {"request": FACTORIAL, "code": "x = 1", "evidence": {}})

    verdict, used = await client.generate_json(
        LLMRequest(role=Role.JUDGE, system=JUDGE_SYSTEM, prompt=prompt), JudgeVerdict
    )

    assert used == 2
    assert "Your previous reply could not be used" in wire.server.exchanges()[-1].prompt
    assert 0 <= verdict.relevance <= 1


async def test_a_429_maps_to_rate_limited_with_the_servers_retry_after(wire: Wire) -> None:
    wire.server.fail_next(Fault.rate_limit(retry_after=2.5))

    with pytest.raises(RateLimited) as caught:
        await wire.provider.generate(worker_request())

    assert caught.value.retry_after == 2.5


async def test_429_then_success_waits_as_told_and_answers(wire: Wire) -> None:
    client, sleeps = wire.client()
    wire.server.fail_next(Fault.rate_limit(retry_after=7))
    before = calls(wire, Role.WORKER, "rate_limited")

    response = await client.generate(worker_request())

    assert response.text == offline_reply(worker_request())
    assert sleeps.waits == [7.0]
    assert len(wire.server.exchanges()) == 2
    assert calls(wire, Role.WORKER, "rate_limited") == before + 1


async def test_a_500_is_retried_with_backoff(wire: Wire) -> None:
    client, sleeps = wire.client()
    wire.server.fail_next(Fault.server_error(500), Fault.server_error(503))

    response = await client.generate(worker_request())

    assert response.text
    assert len(sleeps.waits) == 2
    assert len(wire.server.exchanges()) == 3


async def test_a_500_maps_to_provider_unavailable(wire: Wire) -> None:
    wire.server.fail_next(Fault.server_error(500))

    with pytest.raises(ProviderUnavailable) as caught:
        await wire.provider.generate(worker_request())

    assert not isinstance(caught.value, RateLimited | ProviderTimeout)
    assert len(wire.server.exchanges()) == 1  # the SDK's own retries are off


async def test_persistent_5xx_gives_up_after_the_configured_retries(wire: Wire) -> None:
    client, _ = wire.client(max_retries=2)
    wire.server.fail_next(*[Fault.server_error(502)] * 3)

    with pytest.raises(ProviderUnavailable):
        await client.generate(worker_request())

    assert len(wire.server.exchanges()) == 3


async def test_a_slow_reply_maps_to_provider_timeout(wire: Wire) -> None:
    provider = make_provider(wire.name, wire.server, timeout_s=0.3)
    wire.server.fail_next(Fault.slow(30))
    try:
        with pytest.raises(ProviderTimeout):
            await provider.generate(worker_request())
    finally:
        await provider.aclose()


async def test_a_timeout_is_retried_and_the_next_attempt_answers(wire: Wire) -> None:
    provider = make_provider(wire.name, wire.server, timeout_s=0.3)
    client, sleeps = wire.client(timeout_s=0.3)
    client.provider = provider
    wire.server.fail_next(Fault.slow(30))
    before = calls(wire, Role.WORKER, "timeout")
    try:
        response = await client.generate(worker_request())
    finally:
        await provider.aclose()

    assert response.text == offline_reply(worker_request())
    assert len(sleeps.waits) == 1
    assert calls(wire, Role.WORKER, "timeout") == before + 1


async def test_a_wrong_key_is_rejected_without_retry_and_never_echoed(
    wire: Wire, caplog: pytest.LogCaptureFixture
) -> None:
    wrong_key = "sk-wrong-9876543210zyxwvuts"
    provider = make_provider(wire.name, wire.server, api_key=wrong_key)
    client, sleeps = wire.client()
    client.provider = provider
    caplog.set_level(logging.DEBUG)
    try:
        with pytest.raises(ProviderRejected) as caught:
            await client.generate(worker_request())
    finally:
        await provider.aclose()

    assert sleeps.waits == []
    assert wrong_key not in str(caught.value)
    assert wrong_key[:12] not in str(caught.value)
    assert wrong_key not in caplog.text
    assert wrong_key not in repr(provider)


async def test_the_key_goes_in_the_providers_auth_header_only(wire: Wire) -> None:
    await wire.provider.generate(worker_request())

    seen = wire.server.requests[-1]
    header = {"openai": "authorization", "anthropic": "x-api-key", "gemini": "x-goog-api-key"}
    assert API_KEY in seen.headers[header[wire.name]]
    assert API_KEY not in str(seen.body)
