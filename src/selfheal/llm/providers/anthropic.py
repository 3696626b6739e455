"""Anthropic's Messages API through the official ``anthropic`` SDK.

Structured output uses the documented pattern for this API: one tool whose
``input_schema`` is the requested JSON schema, forced with ``tool_choice``; the tool
call's input is the reply.
"""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any, ClassVar

import anthropic
from anthropic import AsyncAnthropic

from selfheal.llm.base import LLMRequest, LLMResponse
from selfheal.llm.providers._sdk import SDKProvider
from selfheal.llm.registry import register_provider

REPLY_TOOL = "reply"


@register_provider
class AnthropicProvider(SDKProvider[AsyncAnthropic]):
    name: ClassVar[str] = "anthropic"
    sdk: ClassVar[ModuleType] = anthropic
    client_class: ClassVar[type[Any]] = AsyncAnthropic

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
        with self.sdk_errors():
            message = await self._client.messages.create(**self._request_body(request))
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
