"""OpenAI's chat-completions API through the official ``openai`` SDK.

With ``LLM_BASE_URL`` the same provider talks to every server that speaks this
protocol: Ollama (``http://localhost:11434/v1``), vLLM (``http://host:8000/v1``), LM
Studio (``http://localhost:1234/v1``) and llama.cpp's ``llama-server``
(``http://localhost:8080/v1``). Those servers need no key; the SDK still sends one, so
a placeholder goes out when none is configured.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any, ClassVar

import openai
from openai import AsyncOpenAI

from selfheal.llm.base import LLMRequest, LLMResponse
from selfheal.llm.providers._sdk import SDKProvider
from selfheal.llm.registry import register_provider


def _schema_name(schema: dict[str, Any]) -> str:
    title = "".join(c for c in str(schema.get("title", "reply")) if c.isalnum() or c in "_-")
    return (title or "reply")[:64]


@register_provider
class OpenAIProvider(SDKProvider[AsyncOpenAI]):
    name: ClassVar[str] = "openai"
    sdk: ClassVar[ModuleType] = openai
    client_class: ClassVar[type[Any]] = AsyncOpenAI

    def _request_body(self, request: LLMRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [
                {"role": "system", "content": request.system},
                {"role": "user", "content": request.prompt},
            ],
            "temperature": request.temperature,
        }
        # OpenAI's own API wants max_completion_tokens (reasoning models refuse max_tokens);
        # the compatible servers (Ollama, llama.cpp, LM Studio, older vLLM) read max_tokens.
        if self.base_url is None:
            body["max_completion_tokens"] = request.max_tokens
        else:
            body["max_tokens"] = request.max_tokens
        if request.json_schema is not None:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {
                    "name": _schema_name(request.json_schema),
                    "schema": request.json_schema,
                    "strict": False,
                },
            }
        return body

    async def generate(self, request: LLMRequest) -> LLMResponse:
        with self.sdk_errors():
            completion = await self._client.chat.completions.create(**self._request_body(request))
        text = ""
        if completion.choices:
            text = completion.choices[0].message.content or ""
        usage = completion.usage
        return LLMResponse(
            text=text,
            provider=self.name,
            model=completion.model or self.model,
            input_tokens=usage.prompt_tokens if usage else 0,
            output_tokens=usage.completion_tokens if usage else 0,
            raw={
                "id": completion.id,
                "finish_reason": completion.choices[0].finish_reason
                if completion.choices
                else None,
            },
        )
