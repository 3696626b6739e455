"""The Gemini generateContent wire protocol."""

from __future__ import annotations

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


class GeminiServer(ProtocolServer):
    """``POST /{v1,v1beta}/models/{model}:generateContent`` with ``x-goog-api-key``
    (or ``?key=``). Rate limits carry a ``google.rpc.RetryInfo`` detail, as Google's do."""

    protocol: ClassVar[str] = "gemini"
    _STATUS: ClassVar[dict[int, str]] = {
        400: "INVALID_ARGUMENT",
        403: "PERMISSION_DENIED",
        404: "NOT_FOUND",
        429: "RESOURCE_EXHAUSTED",
        500: "INTERNAL",
        503: "UNAVAILABLE",
        504: "DEADLINE_EXCEEDED",
    }

    @property
    def base_url(self) -> str:
        return self.url

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/{version}/models/{target}", self._generate)]

    def authorized(self, request: web.Request) -> bool:
        if self.api_key is None:
            return True
        given = request.headers.get("x-goog-api-key") or request.query.get("key")
        return given == self.api_key

    def unauthorized(self, request: web.Request) -> web.Response:
        # Google answers a bad key with 400 INVALID_ARGUMENT / API_KEY_INVALID.
        return self.error(
            400, "API key not valid. Please pass a valid API key.", reason="API_KEY_INVALID"
        )

    def error(
        self,
        status: int,
        message: str,
        *,
        retry_after: float | None = None,
        reason: str | None = None,
    ) -> web.Response:
        details: list[dict[str, Any]] = []
        if reason:
            details.append(
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": reason,
                    "domain": "googleapis.com",
                }
            )
        if retry_after is not None:
            details.append(
                {
                    "@type": "type.googleapis.com/google.rpc.RetryInfo",
                    "retryDelay": f"{retry_after:g}s",
                }
            )
        error: dict[str, Any] = {
            "code": status,
            "message": message,
            "status": self._STATUS.get(status, "UNKNOWN"),
        }
        if details:
            error["details"] = details
        return web.json_response({"error": error}, status=status)

    async def _generate(self, request: web.Request) -> web.Response:
        target = request.match_info["target"]
        if not target.endswith(":generateContent"):
            return self.error(404, f"method {target!r} is not served here")
        return await self.serve(request, self._parse, self._render)

    @staticmethod
    def _parse(request: web.Request, body: dict[str, Any]) -> Exchange:
        model = request.match_info["target"].split(":", 1)[0]
        contents = body.get("contents")
        if not isinstance(contents, list) or not contents:
            raise BadRequest("* GenerateContentRequest.contents: contents is not specified")
        prompt = ""
        for c in contents:
            if not isinstance(c, dict) or not isinstance(c.get("parts"), list):
                raise BadRequest("* GenerateContentRequest.contents: each content needs parts")
            if c.get("role", "user") == "user":
                prompt = _text_content(c["parts"])
        instruction = body.get("systemInstruction") or body.get("system_instruction") or {}
        system = (
            _text_content(instruction.get("parts", [])) if isinstance(instruction, dict) else ""
        )
        config = body.get("generationConfig") or {}
        schema = None
        if config.get("responseMimeType") == "application/json":
            schema = config.get("responseJsonSchema") or config.get("responseSchema") or {}
        return Exchange(
            model=model, system=system, prompt=prompt, json_schema=schema, options=dict(config)
        )

    @staticmethod
    def _render(exchange: Exchange, text: str) -> dict[str, Any]:
        prompt_tokens = _tokens(exchange.system) + _tokens(exchange.prompt)
        return {
            "candidates": [
                {
                    "content": {"role": "model", "parts": [{"text": text}]},
                    "finishReason": "STOP",
                    "index": 0,
                }
            ],
            "usageMetadata": {
                "promptTokenCount": prompt_tokens,
                "candidatesTokenCount": _tokens(text),
                "totalTokenCount": prompt_tokens + _tokens(text),
            },
            "modelVersion": exchange.model,
            "responseId": uuid.uuid4().hex[:22],
        }
