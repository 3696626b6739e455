"""Google's Gemini API through the official ``google-genai`` SDK (the seed's choice).

The SDK's async client (``genai.Client(...).aio``) is created once and closed in
``aclose``. It is given its own ``httpx.AsyncClient``: left alone, the SDK picks aiohttp
when it is installed (it is, for our services) through a ClientSession subclass that
aiohttp deprecates. Its own retries are switched off (``HttpRetryOptions(attempts=1)``;
without it the SDK also retries connection errors itself, sleeping 1-10 s), so
LLMClient alone decides when to try again. Structured output uses ``response_mime_type`` JSON
with ``response_json_schema``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import httpx
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

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


@register_provider
class GeminiProvider(Provider):
    name: ClassVar[str] = "gemini"

    def __init__(
        self, *, model: str, api_key: str | None, base_url: str | None, timeout_s: float
    ) -> None:
        super().__init__(model=model, api_key=api_key, base_url=base_url, timeout_s=timeout_s)
        self._http = httpx.AsyncClient(timeout=timeout_s)
        options = types.HttpOptions(
            timeout=max(1, int(timeout_s * 1000)),  # milliseconds
            retry_options=types.HttpRetryOptions(attempts=1),
            httpx_async_client=self._http,
        )
        if base_url:
            options.base_url = base_url
        # Keep the sync client referenced: a throwaway Client closes its transport.
        self._sdk = genai.Client(api_key=api_key or KEYLESS_PLACEHOLDER, http_options=options)
        self._client = self._sdk.aio

    def _config(self, request: LLMRequest) -> types.GenerateContentConfig:
        config = types.GenerateContentConfig(
            system_instruction=request.system,
            temperature=request.temperature,
            max_output_tokens=request.max_tokens,
        )
        if request.json_schema is not None:
            config.response_mime_type = "application/json"
            config.response_json_schema = request.json_schema
        return config

    async def generate(self, request: LLMRequest) -> LLMResponse:
        try:
            reply = await self._client.models.generate_content(
                model=self.model, contents=request.prompt, config=self._config(request)
            )
        except genai_errors.APIError as exc:
            response = exc.response
            headers = getattr(response, "headers", None)
            raise status_error(
                self.name,
                int(exc.code),
                str(exc.message or exc.status or ""),
                headers=dict(headers) if headers is not None else None,
                body=exc.details,
                secret=self._api_key,
            ) from exc
        except (TimeoutError, httpx.TimeoutException) as exc:
            raise ProviderTimeout(f"gemini did not answer within {self.timeout_s:g} s") from exc
        except (httpx.TransportError, OSError) as exc:
            raise ProviderUnavailable(
                redact(f"gemini is unreachable: {type(exc).__name__}: {exc}", self._api_key)
            ) from exc
        usage = reply.usage_metadata
        raw: dict[str, Any] = {"model_version": reply.model_version}
        if reply.candidates:
            finish = reply.candidates[0].finish_reason
            raw["finish_reason"] = finish.value if finish is not None else None
        return LLMResponse(
            text=_text_of(reply),
            provider=self.name,
            model=reply.model_version or self.model,
            input_tokens=(usage.prompt_token_count or 0) if usage else 0,
            output_tokens=(usage.candidates_token_count or 0) if usage else 0,
            raw=raw,
        )

    async def aclose(self) -> None:
        await self._client.aclose()
        self._sdk.close()
        await self._http.aclose()


def _text_of(reply: types.GenerateContentResponse) -> str:
    """The text parts of the first candidate (``reply.text`` warns on non-text parts)."""
    if not reply.candidates or reply.candidates[0].content is None:
        return ""
    parts = reply.candidates[0].content.parts or []
    return "".join(p.text for p in parts if p.text and not p.thought)
