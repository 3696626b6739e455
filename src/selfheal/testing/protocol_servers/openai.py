"""The OpenAI chat completions (also Ollama, vLLM, LM Studio, llama.cpp) wire protocol."""

from __future__ import annotations

import time
import uuid
from typing import Any, ClassVar

from aiohttp import web

from selfheal.testing.protocol_servers._base import (
    BadRequest,
    Exchange,
    ProtocolServer,
    _text_content,
    _tokens,
)


class OpenAIServer(ProtocolServer):
    """``POST /v1/chat/completions`` and ``GET /v1/models``, Bearer auth (OpenAI, Ollama,
    vLLM, LM Studio and llama.cpp all speak this)."""

    protocol: ClassVar[str] = "openai"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/v1/chat/completions", self._chat),
            web.get("/v1/models", self._models),
        ]

    def authorized(self, request: web.Request) -> bool:
        if self.api_key is None:
            return True
        return request.headers.get("Authorization") == f"Bearer {self.api_key}"

    def unauthorized(self, request: web.Request) -> web.Response:
        # The real API quotes (part of) the key it was given; SDK users must not leak it.
        given = request.headers.get("Authorization", "").removeprefix("Bearer ")
        return self.error(401, f"Incorrect API key provided: {given}.", code="invalid_api_key")

    def error(
        self,
        status: int,
        message: str,
        *,
        retry_after: float | None = None,
        code: str | None = None,
    ) -> web.Response:
        kind = {
            400: "invalid_request_error",
            401: "invalid_request_error",
            429: "requests",
        }.get(status, "server_error")
        headers = {}
        if retry_after is not None:
            headers["retry-after"] = f"{retry_after:g}"
        if status == 429:
            code = code or "rate_limit_exceeded"
            message = f"Rate limit reached for requests. {message}"
        body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
        return web.json_response(body, status=status, headers=headers)

    async def _models(self, request: web.Request) -> web.Response:
        if not self.authorized(request):
            return self.unauthorized(request)
        return web.json_response(
            {
                "object": "list",
                "data": [
                    {"id": "offline-sim-1", "object": "model", "created": 0, "owned_by": "selfheal"}
                ],
            }
        )

    async def _chat(self, request: web.Request) -> web.Response:
        return await self.serve(request, self._parse, self._render)

    @staticmethod
    def _parse(request: web.Request, body: dict[str, Any]) -> Exchange:
        model, messages = body.get("model"), body.get("messages")
        if not isinstance(model, str) or not model:
            raise BadRequest("you must provide a model parameter")
        if not isinstance(messages, list) or not messages:
            raise BadRequest("'messages' must be a non-empty array")
        system, prompt = [], ""
        for m in messages:
            if not isinstance(m, dict) or m.get("role") not in (
                "system",
                "developer",
                "user",
                "assistant",
                "tool",
            ):
                raise BadRequest("each message needs a valid 'role'")
            text = _text_content(m.get("content", ""))
            if m["role"] in ("system", "developer"):
                system.append(text)
            elif m["role"] == "user":
                prompt = text
        schema = None
        fmt = body.get("response_format")
        if isinstance(fmt, dict):
            if fmt.get("type") == "json_schema":
                spec = fmt.get("json_schema")
                if not isinstance(spec, dict) or "name" not in spec:
                    raise BadRequest("response_format.json_schema needs a 'name'")
                schema = spec.get("schema") or {}
            elif fmt.get("type") == "json_object":
                schema = {}
        return Exchange(
            model=model,
            system="\n".join(system),
            prompt=prompt,
            json_schema=schema,
            options={
                k: body[k]
                for k in ("temperature", "max_tokens", "max_completion_tokens")
                if k in body
            },
        )

    @staticmethod
    def _render(exchange: Exchange, text: str) -> dict[str, Any]:
        prompt_tokens = _tokens(exchange.system) + _tokens(exchange.prompt)
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": exchange.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text, "refusal": None},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": _tokens(text),
                "total_tokens": prompt_tokens + _tokens(text),
            },
        }
