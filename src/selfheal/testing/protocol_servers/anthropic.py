"""The Anthropic messages wire protocol."""

from __future__ import annotations

import json
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


class AnthropicServer(ProtocolServer):
    """``POST /v1/messages`` with ``x-api-key`` and ``anthropic-version`` headers."""

    protocol: ClassVar[str] = "anthropic"

    @property
    def base_url(self) -> str:
        return self.url

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/v1/messages", self._messages)]

    def authorized(self, request: web.Request) -> bool:
        return self.api_key is None or request.headers.get("x-api-key") == self.api_key

    def error(self, status: int, message: str, *, retry_after: float | None = None) -> web.Response:
        kind = {
            400: "invalid_request_error",
            401: "authentication_error",
            403: "permission_error",
            404: "not_found_error",
            429: "rate_limit_error",
            529: "overloaded_error",
        }.get(status, "api_error")
        headers = {"request-id": f"req_{uuid.uuid4().hex[:24]}"}
        if retry_after is not None:
            headers["retry-after"] = f"{retry_after:g}"
        body = {"type": "error", "error": {"type": kind, "message": message}}
        return web.json_response(body, status=status, headers=headers)

    async def _messages(self, request: web.Request) -> web.Response:
        return await self.serve(request, self._parse, self._render)

    @staticmethod
    def _parse(request: web.Request, body: dict[str, Any]) -> Exchange:
        if not request.headers.get("anthropic-version"):
            raise BadRequest("anthropic-version: header is required")
        model, messages = body.get("model"), body.get("messages")
        if not isinstance(model, str) or not model:
            raise BadRequest("model: Field required")
        if not isinstance(body.get("max_tokens"), int):
            raise BadRequest("max_tokens: Field required")
        if not isinstance(messages, list) or not messages:
            raise BadRequest("messages: at least one message is required")
        if messages[0].get("role") != "user":
            raise BadRequest("messages: the first message must use the 'user' role")
        prompt = ""
        for m in messages:
            if m.get("role") not in ("user", "assistant"):
                raise BadRequest("messages: roles must be 'user' or 'assistant'")
            if m["role"] == "user":
                prompt = _text_content(m.get("content", ""))
        system = _text_content(body.get("system", ""))
        schema, tool = None, None
        choice = body.get("tool_choice")
        if isinstance(choice, dict) and choice.get("type") == "tool":
            tools = {t.get("name"): t for t in body.get("tools") or [] if isinstance(t, dict)}
            tool = choice.get("name")
            if tool not in tools:
                raise BadRequest(f"tool_choice: tool {tool!r} is not among the tools")
            schema = tools[tool].get("input_schema")
            if not isinstance(schema, dict) or schema.get("type") != "object":
                raise BadRequest("tools.0.input_schema: must be a JSON schema of type object")
        return Exchange(
            model=model,
            system=system,
            prompt=prompt,
            json_schema=schema,
            options={"tool": tool, "max_tokens": body["max_tokens"]},
        )

    @staticmethod
    def _render(exchange: Exchange, text: str) -> dict[str, Any]:
        content: list[dict[str, Any]] = [{"type": "text", "text": text}]
        stop_reason = "end_turn"
        tool = exchange.options.get("tool")
        if tool:
            try:
                data = json.loads(text)
            except ValueError:
                data = None
            if isinstance(data, dict):  # a model that does not comply answers in text
                content = [
                    {
                        "type": "tool_use",
                        "id": f"toolu_{uuid.uuid4().hex[:24]}",
                        "name": tool,
                        "input": data,
                    }
                ]
                stop_reason = "tool_use"
        return {
            "id": f"msg_{uuid.uuid4().hex[:24]}",
            "type": "message",
            "role": "assistant",
            "model": exchange.model,
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": {
                "input_tokens": _tokens(exchange.system) + _tokens(exchange.prompt),
                "output_tokens": _tokens(text),
            },
        }
