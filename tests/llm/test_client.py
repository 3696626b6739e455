"""LLMClient: retries, circuit breaker, metrics, structured output, and key hygiene —
with a registered scripted provider (the seam the provider interface offers)."""

from __future__ import annotations

import email.utils
import time
from collections import deque
from typing import ClassVar

import pytest
from prometheus_client import REGISTRY

from selfheal.core.errors import ConfigurationError
from selfheal.llm.base import (
    CircuitOpen,
    LLMRequest,
    LLMResponse,
    Provider,
    ProviderRejected,
    ProviderUnavailable,
    RateLimited,
    Role,
    StructuredOutputError,
)
from selfheal.llm.client import CircuitBreaker, LLMClient
from selfheal.llm.providers._errors import redact, retry_after_seconds, status_error
from selfheal.llm.registry import build_provider, register_provider, role_settings
from selfheal.llm.schemas import JudgeVerdict
from tests.llm.conftest import SleepRecorder, llm_settings

VERDICT = '{"relevance": 1, "correctness": 1, "quality": 1, "safety": 1, "reasoning": "ok"}'
REQUEST = LLMRequest(role=Role.JUDGE, system="judge", prompt="data")


@register_provider
class ScriptedProvider(Provider):
    """Replies from a script: a string is a reply, an exception is raised."""

    name: ClassVar[str] = "scripted"
    needs_api_key: ClassVar[bool] = False

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.script: deque[str | Exception] = deque()
        self.calls = 0

    async def generate(self, request: LLMRequest) -> LLMResponse:
        self.calls += 1
        step = self.script.popleft() if self.script else VERDICT
        if isinstance(step, Exception):
            raise step
        return LLMResponse(
            text=step, provider=self.name, model=self.model, input_tokens=11, output_tokens=7
        )


def scripted(
    *steps: str | Exception, model: str = "m", **settings: object
) -> tuple[LLMClient, ScriptedProvider, SleepRecorder]:
    provider = ScriptedProvider(model=model, api_key=None, base_url=None, timeout_s=1.0)
    provider.script.extend(steps)
    sleeps = SleepRecorder()
    client = LLMClient(provider, Role.JUDGE, llm_settings(**settings), sleep=sleeps)
    return client, provider, sleeps


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


# -- retries ------------------------------------------------------------------------


async def test_retry_after_is_honoured_up_to_the_configured_ceiling() -> None:
    client, _, sleeps = scripted(RateLimited("slow down", retry_after=120), retry_max_wait_s=9)

    await client.generate(REQUEST)

    assert sleeps.waits == [9]


async def test_without_retry_after_the_wait_is_exponential_with_jitter() -> None:
    client, provider, sleeps = scripted(
        *[ProviderUnavailable("502")] * 4, max_retries=4, retry_max_wait_s=100
    )

    await client.generate(REQUEST)

    assert provider.calls == 5
    for attempt, wait in enumerate(sleeps.waits):
        assert 0 <= wait <= 0.5 * 2**attempt


async def test_rejections_are_not_retried() -> None:
    client, provider, sleeps = scripted(ProviderRejected("bad request"))

    with pytest.raises(ProviderRejected):
        await client.generate(REQUEST)

    assert (provider.calls, sleeps.waits) == (1, [])


# -- circuit breaker ----------------------------------------------------------------


async def test_the_breaker_opens_after_consecutive_failures_and_fails_fast() -> None:
    client, provider, _ = scripted(
        *[ProviderUnavailable("down")] * 3, max_retries=0, breaker_failures=3
    )
    for _ in range(3):
        with pytest.raises(ProviderUnavailable):
            await client.generate(REQUEST)

    with pytest.raises(CircuitOpen):
        await client.generate(REQUEST)

    assert provider.calls == 3
    assert client.breaker.state == "open"
    assert sample("selfheal_llm_circuit_open", provider="scripted", model="m") == 1


async def test_an_open_breaker_stops_the_retry_loop() -> None:
    client, provider, _ = scripted(
        *[ProviderUnavailable("down")] * 5, max_retries=5, breaker_failures=2
    )

    with pytest.raises(CircuitOpen):
        await client.generate(REQUEST)

    assert provider.calls == 2


def test_after_the_reset_time_one_trial_call_goes_through() -> None:
    now = [0.0]
    breaker = CircuitBreaker(threshold=2, reset_s=10, clock=lambda: now[0])
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state == "open"

    now[0] = 10.0
    assert breaker.state == "half_open"
    breaker.before_call()  # the trial
    with pytest.raises(CircuitOpen):
        breaker.before_call()  # a second caller while the trial is out

    breaker.record_success()
    assert breaker.state == "closed"


def test_a_failed_trial_opens_the_breaker_again_at_once() -> None:
    now = [0.0]
    breaker = CircuitBreaker(threshold=3, reset_s=10, clock=lambda: now[0])
    for _ in range(3):
        breaker.record_failure()
    now[0] = 11.0
    breaker.before_call()

    breaker.record_failure()

    assert breaker.state == "open"
    now[0] = 20.0
    assert breaker.state == "open"
    now[0] = 21.0
    assert breaker.state == "half_open"


async def test_rejections_do_not_trip_the_breaker() -> None:
    client, _, _ = scripted(*[ProviderRejected("401")] * 3, breaker_failures=2)
    for _ in range(3):
        with pytest.raises(ProviderRejected):
            await client.generate(REQUEST)

    assert client.breaker.state == "closed"


# -- metrics --------------------------------------------------------------------------


async def test_tokens_latency_and_outcomes_are_counted_per_provider_model_and_role() -> None:
    client, _, _ = scripted(RateLimited("429"), VERDICT, model="metrics-model")
    labels = {"provider": "scripted", "model": "metrics-model", "role": "judge"}

    await client.generate(REQUEST)

    assert sample("selfheal_llm_calls_total", **labels, outcome="ok") == 1
    assert sample("selfheal_llm_calls_total", **labels, outcome="rate_limited") == 1
    assert sample("selfheal_llm_tokens_total", **labels, direction="input") == 11
    assert sample("selfheal_llm_tokens_total", **labels, direction="output") == 7
    assert sample("selfheal_llm_call_duration_seconds_count", **labels) == 1


# -- structured output -------------------------------------------------------------


async def test_a_valid_json_reply_needs_one_call() -> None:
    client, provider, _ = scripted(f"Here you go:\n```json\n{VERDICT}\n```")

    verdict, used = await client.generate_json(REQUEST, JudgeVerdict)

    assert (used, provider.calls, verdict.reasoning) == (1, 1, "ok")


async def test_an_invalid_reply_gets_one_repair_attempt() -> None:
    client, provider, _ = scripted('{"relevance": 2}', VERDICT)

    verdict, used = await client.generate_json(REQUEST, JudgeVerdict)

    assert (used, provider.calls) == (2, 2)
    assert verdict.correctness == 1


async def test_two_invalid_replies_raise_structured_output_error() -> None:
    client, provider, _ = scripted("no json here", '{"relevance": "high"}')

    with pytest.raises(StructuredOutputError):
        await client.generate_json(REQUEST, JudgeVerdict)

    assert provider.calls == 2


# -- per-role configuration ----------------------------------------------------------


def test_each_role_can_have_its_own_provider_and_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_JUDGE_PROVIDER", "scripted")
    monkeypatch.setenv("LLM_JUDGE_MODEL", "judge-model")
    monkeypatch.setenv("LLM_OPTIMIZER_MODEL", "big-model")
    settings = llm_settings(provider="offline")

    judge = build_provider(settings, Role.JUDGE)
    optimizer = build_provider(settings, Role.OPTIMIZER)
    worker = build_provider(settings, Role.WORKER)

    assert (judge.name, judge.model) == ("scripted", "judge-model")
    assert (optimizer.name, optimizer.model) == ("offline", "big-model")
    assert (worker.name, worker.model) == ("offline", "offline-sim-1")


def test_a_role_override_of_key_and_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_WORKER_PROVIDER", "openai")
    monkeypatch.setenv("LLM_WORKER_BASE_URL", "http://127.0.0.1:11434/v1")
    monkeypatch.setenv("LLM_WORKER_API_KEY", "worker-key")

    assert role_settings(llm_settings(), Role.WORKER) == (
        "openai",
        None,
        "worker-key",
        "http://127.0.0.1:11434/v1",
    )
    assert role_settings(llm_settings(), Role.JUDGE)[0] == "offline"


def test_a_role_on_another_provider_inherits_no_key_url_or_model(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LLM_JUDGE_PROVIDER", "anthropic")
    monkeypatch.setenv("LLM_JUDGE_API_KEY", "sk-ant")
    settings = llm_settings(
        provider="openai", api_key="sk-openai", model="gpt-x", base_url="http://127.0.0.1:11434/v1"
    )

    assert role_settings(settings, Role.JUDGE) == ("anthropic", None, "sk-ant", None)
    assert role_settings(settings, Role.WORKER) == (
        "openai",
        "gpt-x",
        "sk-openai",
        "http://127.0.0.1:11434/v1",
    )
    assert build_provider(settings, Role.JUDGE).model == "claude-3-5-haiku-latest"


def test_a_role_on_another_provider_without_its_own_key_fails_fast(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LLM_OPTIMIZER_PROVIDER", "gemini")

    with pytest.raises(ConfigurationError, match="LLM_OPTIMIZER_API_KEY"):
        build_provider(llm_settings(provider="openai", api_key="sk-openai"), Role.OPTIMIZER)


def test_a_real_provider_without_key_or_base_url_fails_fast() -> None:
    with pytest.raises(ConfigurationError, match="needs an API key"):
        build_provider(llm_settings(provider="anthropic"), Role.WORKER)


# -- keys and error translation -----------------------------------------------------


def test_keys_never_show_in_reprs() -> None:
    key = "sk-live-abcdef0123456789"
    settings = llm_settings(provider="openai", api_key=key)
    provider = build_provider(settings, Role.WORKER)

    assert key not in repr(settings)
    assert key not in repr(provider)


def test_redact_hides_the_key_and_quoted_pieces_of_it() -> None:
    key = "sk-live-abcdef0123456789"
    text = f"Incorrect API key provided: {key}; did you mean sk-live-ab****6789 or {key[4:16]}?"

    assert key[4:16] not in redact(text, key)
    assert key not in redact(text, key)


@pytest.mark.parametrize(
    ("headers", "body", "expected"),
    [
        ({"Retry-After": "3"}, None, 3.0),
        ({"retry-after-ms": "1500", "retry-after": "9"}, None, 1.5),
        (
            {},
            {
                "error": {
                    "details": [
                        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "12s"}
                    ]
                }
            },
            12.0,
        ),
        ({}, None, None),
        ({"Retry-After": "soon"}, None, None),
    ],
)
def test_retry_after_forms(headers: dict[str, str], body: object, expected: float | None) -> None:
    assert retry_after_seconds(headers, body) == expected


def test_retry_after_as_an_http_date() -> None:
    later = email.utils.formatdate(time.time() + 3600, usegmt=True)

    wait = retry_after_seconds({"Retry-After": later})

    assert wait is not None and 3000 < wait <= 3600


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (429, RateLimited),
        (500, ProviderUnavailable),
        (503, ProviderUnavailable),
        (529, ProviderUnavailable),
        (408, ProviderUnavailable),
        (400, ProviderRejected),
        (401, ProviderRejected),
        (404, ProviderRejected),
    ],
)
def test_http_statuses_map_onto_the_error_tree(status: int, kind: type[Exception]) -> None:
    error = status_error("p", status, "boom", body={"error": {"message": "why"}})

    assert type(error) is kind
    assert "why" in str(error)


def test_a_placeholder_per_role_key_is_refused_at_start_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LLM_JUDGE_API_KEY", "your-api-key")
    with pytest.raises(ValueError, match="looks like a placeholder"):
        llm_settings(provider="openai", api_key="sk-openai")
