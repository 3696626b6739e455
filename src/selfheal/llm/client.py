"""What every provider shares: timeout, retries with backoff and Retry-After, a circuit
breaker, metrics, and validated structured output with one repair attempt."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
)

from selfheal.core import metrics
from selfheal.core.config import LLMSettings
from selfheal.llm.base import (
    CircuitOpen,
    LLMRequest,
    LLMResponse,
    Provider,
    ProviderRejected,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
    Role,
    StructuredOutputError,
)
from selfheal.llm.registry import build_provider

log = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)


class CircuitBreaker:
    """Fails fast while a provider keeps failing.

    closed --(``threshold`` consecutive failures)--> open --(``reset_s``)--> half-open:
    one trial call goes through; its success closes the breaker, its failure opens it
    again. Only availability failures count (5xx, 429, timeouts, connection errors); a
    rejected request (bad key, bad request) says nothing about the provider's health.
    """

    def __init__(
        self, threshold: int, reset_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.threshold = threshold
        self.reset_s = reset_s
        self.failures = 0
        self.opened_at: float | None = None
        self._clock = clock
        self._trial_in_flight = False

    @property
    def state(self) -> str:
        """``closed``, ``open`` or ``half_open`` (what /ready shows)."""
        if self.opened_at is None:
            return "closed"
        if self._trial_in_flight or self._clock() - self.opened_at < self.reset_s:
            return "open"
        return "half_open"

    @property
    def is_open(self) -> bool:
        return self.state == "open"

    def before_call(self) -> None:
        state = self.state
        if state == "open":
            raise CircuitOpen(
                f"the LLM provider failed {self.failures} times in a row; failing fast "
                f"for up to {self.reset_s:g} s before trying it again"
            )
        if state == "half_open":
            self._trial_in_flight = True

    def record_success(self) -> None:
        self.failures = 0
        self.opened_at = None
        self._trial_in_flight = False

    def record_failure(self) -> None:
        self.failures += 1
        if self._trial_in_flight or self.failures >= self.threshold:
            self.opened_at = self._clock()
        self._trial_in_flight = False

    def record_neutral(self) -> None:
        """The call ended without telling us anything about availability (e.g. a 400)."""
        self._trial_in_flight = False


class _WaitBackoffOrRetryAfter:
    """Exponential backoff with full jitter, or the server's Retry-After when it sent one."""

    def __init__(self, max_wait: float, base: float = 0.5) -> None:
        self.max_wait = max_wait
        self.base = base

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RateLimited) and exc.retry_after is not None:
            return min(max(exc.retry_after, 0.0), self.max_wait)
        ceiling = min(self.max_wait, self.base * (2 ** (state.attempt_number - 1)))
        return random.uniform(0, ceiling)


@dataclass(slots=True)
class Usage:
    """What a client has spent so far (answered calls and their tokens)."""

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0


class LLMClient:
    """A provider bound to a role, with the shared reliability behaviour around it."""

    def __init__(
        self,
        provider: Provider,
        role: Role,
        settings: LLMSettings,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.provider = provider
        self.role = role
        self.settings = settings
        self.breaker = CircuitBreaker(settings.breaker_failures, settings.breaker_reset_s)
        self._sleep = sleep  # the wait between attempts (a seam for tests)
        self.usage = Usage()
        self._timeout_s = settings.timeout_for(provider.name)

    @classmethod
    def for_role(cls, settings: LLMSettings, role: Role) -> LLMClient:
        return cls(build_provider(settings, role), role, settings)

    @property
    def label(self) -> tuple[str, str]:
        return self.provider.name, self.provider.model

    async def generate(self, request: LLMRequest) -> LLMResponse:
        """Call the provider with timeout and retries; raise an ``LLMError`` if it cannot answer."""
        name, model = self.label
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(ProviderUnavailable),
            stop=stop_after_attempt(self.settings.max_retries + 1),
            wait=_WaitBackoffOrRetryAfter(self.settings.retry_max_wait_s),
            sleep=self._sleep,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                try:
                    self.breaker.before_call()
                except CircuitOpen:
                    metrics.LLM_CALLS.labels(name, model, self.role.value, "circuit_open").inc()
                    raise
                start = time.perf_counter()
                try:
                    response = await asyncio.wait_for(
                        self.provider.generate(request), timeout=self._timeout_s
                    )
                except TimeoutError as exc:
                    self._failed(name, model, "timeout")
                    raise ProviderTimeout(
                        f"{name} did not answer within {self._timeout_s:g} s"
                    ) from exc
                except ProviderUnavailable as exc:
                    self._failed(name, model, _outcome(exc))
                    log.warning(
                        "LLM call failed (%s/%s, role %s, attempt %d): %s",
                        name,
                        model,
                        self.role.value,
                        attempt.retry_state.attempt_number,
                        exc,
                    )
                    raise
                except BaseException as exc:
                    self.breaker.record_neutral()
                    outcome = "rejected" if isinstance(exc, ProviderRejected) else "error"
                    metrics.LLM_CALLS.labels(name, model, self.role.value, outcome).inc()
                    raise
                self.breaker.record_success()
                metrics.LLM_BREAKER_OPEN.labels(name, model).set(0)
                elapsed = time.perf_counter() - start
                response.latency_ms = elapsed * 1000
                metrics.LLM_CALLS.labels(name, model, self.role.value, "ok").inc()
                metrics.LLM_LATENCY.labels(name, model, self.role.value).observe(elapsed)
                metrics.LLM_TOKENS.labels(name, model, self.role.value, "input").inc(
                    response.input_tokens
                )
                metrics.LLM_TOKENS.labels(name, model, self.role.value, "output").inc(
                    response.output_tokens
                )
                self.usage.calls += 1
                self.usage.input_tokens += response.input_tokens
                self.usage.output_tokens += response.output_tokens
                return response
        raise AssertionError("unreachable")  # pragma: no cover

    def _failed(self, name: str, model: str, outcome: str) -> None:
        self.breaker.record_failure()
        metrics.LLM_CALLS.labels(name, model, self.role.value, outcome).inc()
        if self.breaker.opened_at is not None:
            metrics.LLM_BREAKER_OPEN.labels(name, model).set(1)
            log.warning("circuit breaker opened for %s/%s (role %s)", name, model, self.role.value)

    async def generate_json(self, request: LLMRequest, schema: type[M]) -> tuple[M, int]:
        """Ask for JSON matching ``schema``; repair what can be repaired, else ask once more.

        A JSON object inside fences or prose is extracted without another call; only a
        reply with no valid object gets one re-ask, which shows the model its own reply
        (clipped) and the errors. Returns the validated object and the LLM calls it took.
        """
        request = LLMRequest(
            role=request.role,
            system=request.system,
            prompt=request.prompt,
            json_schema=json_schema_of(schema),
            temperature=request.temperature,
            max_tokens=request.max_tokens,
        )
        response = await self.generate(request)
        try:
            return parse_json_reply(response.text, schema), 1
        except (ValidationError, ValueError) as first_error:
            log.warning(
                "%s reply was not valid %s; asking once more: %s",
                self.role.value,
                schema.__name__,
                str(first_error)[:300],
            )
            repair = LLMRequest(
                role=request.role,
                system=request.system,
                prompt=repair_prompt(request.prompt, response.text, first_error),
                json_schema=request.json_schema,
                temperature=0.0,
                max_tokens=request.max_tokens,
            )
            repaired = await self.generate(repair)
            try:
                return parse_json_reply(repaired.text, schema), 2
            except (ValidationError, ValueError) as exc:
                raise StructuredOutputError(
                    f"{self.provider.name} returned invalid {schema.__name__} twice: {exc}"
                ) from exc

    async def aclose(self) -> None:
        await self.provider.aclose()


def _outcome(exc: ProviderUnavailable) -> str:
    """The metrics label of a failed call."""
    if isinstance(exc, RateLimited):
        return "rate_limited"
    if isinstance(exc, ProviderTimeout):
        return "timeout"
    return "unavailable"


@lru_cache(maxsize=64)
def json_schema_of(schema: type[BaseModel]) -> dict[str, Any]:
    """A model's JSON schema, built once (pydantic rebuilds it on every call otherwise)."""
    return schema.model_json_schema()


_FENCE = re.compile(r"```[A-Za-z]*\s*\n?(.*?)```", re.DOTALL)
_DECODER = json.JSONDecoder()
# What a re-ask may carry of the bad reply and of the errors (the request must still fit).
REPAIR_REPLY_CHARS = 1500
REPAIR_ERROR_CHARS = 600


def json_objects(text: str) -> list[dict[str, Any]]:
    """Every JSON object in a reply: fenced blocks first, then objects found in the prose
    (the first ``{`` that starts a complete object at each position), in order."""
    sources = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    found: list[dict[str, Any]] = []
    for source in sources:
        index = source.find("{")
        while index != -1:
            try:
                value, end = _DECODER.raw_decode(source, index)
            except ValueError:
                index = source.find("{", index + 1)
                continue
            if isinstance(value, dict):
                found.append(value)
            index = source.find("{", end)
    return found


def parse_json_reply(text: str, schema: type[M]) -> M:
    """The first JSON object in a model reply (bare, fenced, or in prose) that validates."""
    objects = json_objects(text)
    if not objects:
        raise ValueError("the reply contains no JSON object")
    first_error: ValidationError | None = None
    for value in objects:
        try:
            return schema.model_validate(value)
        except ValidationError as exc:
            first_error = first_error or exc
    assert first_error is not None
    raise first_error


def repair_prompt(prompt: str, reply: str, error: Exception) -> str:
    """The re-ask: the original request, the model's reply (clipped) and what was wrong."""
    return (
        f"{prompt}\n\nYour previous reply could not be used.\n"
        f"Previous reply (clipped):\n{reply[:REPAIR_REPLY_CHARS]}\n\n"
        f"Errors:\n{str(error)[:REPAIR_ERROR_CHARS]}\n\n"
        "Reply again with only the corrected JSON object, in the shape asked for."
    )
