"""OpenAI's chat-completions API through the official ``openai`` SDK.

With ``LLM_BASE_URL`` the same provider talks to every server that speaks this
protocol: Ollama (``http://localhost:11434/v1``), vLLM (``http://host:8000/v1``), LM
Studio (``http://localhost:1234/v1``) and llama.cpp's ``llama-server``
(``http://localhost:8080/v1``). Those servers need no key; the SDK still sends one, so
a placeholder goes out when none is configured.
"""

from __future__ import annotations

from typing import Any, ClassVar

import openai
from openai import AsyncOpenAI

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


def _schema_name(schema: dict[str, Any]) -> str:
    title = "".join(c for c in str(schema.get("title", "reply")) if c.isalnum() or c in "_-")
    return (title or "reply")[:64]


@register_provider
class OpenAIProvider(Provider):
    name: ClassVar[str] = "openai"

    def __init__(
        self, *, model: str, api_key: str | None, base_url: str | None, timeout_s: float
    ) -> None:
        super().__init__(model=model, api_key=api_key, base_url=base_url, timeout_s=timeout_s)
        # max_retries=0: LLMClient owns retries, backoff and the circuit breaker.
        self._client = AsyncOpenAI(
            api_key=api_key or KEYLESS_PLACEHOLDER,
            base_url=base_url,
            timeout=timeout_s,
            max_retries=0,
        )

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
        try:
            completion = await self._client.chat.completions.create(**self._request_body(request))
        except openai.APITimeoutError as exc:
            raise ProviderTimeout(f"openai did not answer within {self.timeout_s:g} s") from exc
        except openai.APIConnectionError as exc:
            raise ProviderUnavailable(
                redact(f"openai is unreachable at {self._client.base_url}: {exc}", self._api_key)
            ) from exc
        except openai.APIStatusError as exc:
            raise status_error(
                self.name,
                exc.status_code,
                exc.message,
                headers=exc.response.headers,
                body=exc.body,
                secret=self._api_key,
            ) from exc
        except openai.APIResponseValidationError as exc:
            raise ProviderUnavailable(f"openai sent a reply the SDK could not read: {exc}") from exc
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

    async def aclose(self) -> None:
        await self._client.close()
