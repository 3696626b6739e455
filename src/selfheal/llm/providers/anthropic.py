"""Anthropic's Messages API through the official ``anthropic`` SDK.

Structured output uses the documented pattern for this API: one tool whose
``input_schema`` is the requested JSON schema, forced with ``tool_choice``; the tool
call's input is the reply.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

import anthropic
from anthropic import AsyncAnthropic

from selfheal.llm.base import (
    KEYLESS_PLACEHOLDER,
    LLMRequest,
    LLMResponse,
    Provider,
    ProviderTimeout,
    ProviderUnavailable,
)
from selfheal.llm.providers._errors import redact, status_error
from selfheal.llm.registry import register_provider

REPLY_TOOL = "reply"


@register_provider
class AnthropicProvider(Provider):
    name: ClassVar[str] = "anthropic"

    def __init__(
        self, *, model: str, api_key: str | None, base_url: str | None, timeout_s: float
    ) -> None:
        super().__init__(model=model, api_key=api_key, base_url=base_url, timeout_s=timeout_s)
        # max_retries=0: LLMClient owns retries, backoff and the circuit breaker.
        self._client = AsyncAnthropic(
            api_key=api_key or KEYLESS_PLACEHOLDER,
            base_url=base_url,
            timeout=timeout_s,
            max_retries=0,
        )

    def _request_body(self, request: LLMRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "system": request.system,
            "messages": [{"role": "user", "content": request.prompt}],
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
        }
        if request.json_schema is not None:
            body["tools"] = [
                {
                    "name": REPLY_TOOL,
                    "description": "Give the reply as one JSON object matching this schema.",
                    "input_schema": request.json_schema,
                }
            ]
            body["tool_choice"] = {"type": "tool", "name": REPLY_TOOL}
        return body

    async def generate(self, request: LLMRequest) -> LLMResponse:
        try:
            message = await self._client.messages.create(**self._request_body(request))
        except anthropic.APITimeoutError as exc:
            raise ProviderTimeout(f"anthropic did not answer within {self.timeout_s:g} s") from exc
        except anthropic.APIConnectionError as exc:
            raise ProviderUnavailable(
                redact(f"anthropic is unreachable at {self._client.base_url}: {exc}", self._api_key)
            ) from exc
        except anthropic.APIStatusError as exc:
            raise status_error(
                self.name,
                exc.status_code,
                exc.message,
                headers=exc.response.headers,
                body=exc.body,
                secret=self._api_key,
            ) from exc
        except anthropic.APIResponseValidationError as exc:
            raise ProviderUnavailable(
                f"anthropic sent a reply the SDK could not read: {exc}"
            ) from exc
        parts: list[str] = []
        for block in message.content:
            if block.type == "tool_use" and block.name == REPLY_TOOL:
                parts = [json.dumps(block.input)]
                break
            if block.type == "text":
                parts.append(block.text)
        return LLMResponse(
            text="".join(parts),
            provider=self.name,
            model=message.model or self.model,
            input_tokens=message.usage.input_tokens,
            output_tokens=message.usage.output_tokens,
            raw={"id": message.id, "stop_reason": message.stop_reason},
        )

    async def aclose(self) -> None:
        await self._client.close()
