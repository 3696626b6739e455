"""Local HTTP servers that speak the OpenAI, Anthropic and Gemini wire protocols.

The tests point the real SDKs at them (nothing in the SDK is mocked), and so can a
person: ``python -m selfheal.testing.protocol_servers openai --port 9000`` and then
``LLM_PROVIDER=openai LLM_BASE_URL=http://127.0.0.1:9000/v1 LLM_API_KEY=test-key
selfheal up`` runs the whole system through the openai SDK.

Each server checks the provider's auth header, validates the request body the way the
real API does (enough to catch a malformed request), records every request, and
answers with the offline model — which recognises its role from the system prompt —
so a stack pointed at it produces real answers. Scripted faults make it misbehave for
the next requests, in order::

    server.fail_next(Fault.rate_limit(retry_after=1), Fault.server_error(), Fault.slow(5))

Error bodies, status codes and rate-limit headers follow each provider's documentation.
The server runs in a background thread with its own event loop, so it serves sync and
async tests alike, and a subprocess such as ``selfheal up``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import socket
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from aiohttp import web

from selfheal.llm.base import LLMRequest
from selfheal.llm.providers.offline import OfflineProvider, infer_role

FaultKind = Literal["rate_limit", "server_error", "slow", "reply"]


@dataclass(frozen=True, slots=True)
class Fault:
    """What the server does with one upcoming request instead of answering normally."""

    kind: FaultKind
    status: int = 500
    retry_after: float | None = None
    delay_s: float = 0.0
    text: str = ""

    @classmethod
    def rate_limit(cls, retry_after: float | None = 1.0) -> Fault:
        """HTTP 429, with the provider's way of saying when to come back."""
        return cls("rate_limit", status=429, retry_after=retry_after)

    @classmethod
    def server_error(cls, status: int = 500) -> Fault:
        return cls("server_error", status=status)

    @classmethod
    def slow(cls, delay_s: float) -> Fault:
        """Answer normally, but only after ``delay_s`` (or when the server stops)."""
        return cls("slow", delay_s=delay_s)

    @classmethod
    def reply(cls, text: str) -> Fault:
        """Answer with this text instead of the offline model's."""
        return cls("reply", text=text)


@dataclass(frozen=True, slots=True)
class Exchange:
    """The provider-neutral content of one generation request."""

    model: str
    system: str
    prompt: str
    json_schema: dict[str, Any] | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SeenRequest:
    """One request as the server received it (header names lower-cased)."""

    method: str
    path: str
    headers: dict[str, str]
    query: dict[str, str]
    body: Any
    exchange: Exchange | None = None


class BadRequest(Exception):
    """The request body is not what the API accepts (-> the provider's 400)."""


Answer = Callable[[Exchange], str]


def offline_answer(exchange: Exchange) -> str:
    """What the offline model replies to this system prompt and input."""
    model = OfflineProvider(model="offline-sim-1", api_key=None, base_url=None, timeout_s=60)
    return model.respond(
        LLMRequest(
            role=infer_role(exchange.system),
            system=exchange.system,
            prompt=exchange.prompt,
            json_schema=exchange.json_schema,
        )
    )


def _tokens(text: str) -> int:
    return max(1, len(text) // 4)


class ProtocolServer(ABC):
    """A real HTTP server on 127.0.0.1 speaking one provider's protocol."""

    protocol: ClassVar[str]

    def __init__(
        self,
        *,
        api_key: str | None = "test-key",
        host: str = "127.0.0.1",
        port: int = 0,
        answer: Answer = offline_answer,
    ) -> None:
        self.api_key = api_key
        self.host = host
        self.port = port
        self.answer = answer
        self.requests: list[SeenRequest] = []
        self._faults: deque[Fault] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._closing: asyncio.Event | None = None

    # -- what a subclass defines -------------------------------------------------------

    @abstractmethod
    def routes(self) -> list[web.RouteDef]:
        """The API's paths."""

    @abstractmethod
    def authorized(self, request: web.Request) -> bool:
        """Whether the request carries the expected key in this API's header."""

    @abstractmethod
    def error(self, status: int, message: str, *, retry_after: float | None = None) -> web.Response:
        """An error reply in this API's shape (body and headers)."""

    @property
    @abstractmethod
    def base_url(self) -> str:
        """What to pass to the SDK (and to ``LLM_BASE_URL``)."""

    # -- scripting and inspection ------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def fail_next(self, *faults: Fault) -> None:
        """Queue faults for the next requests, one per request, in order."""
        self._faults.extend(faults)

    @property
    def pending_faults(self) -> int:
        return len(self._faults)

    def exchanges(self) -> list[Exchange]:
        return [r.exchange for r in self.requests if r.exchange is not None]

    # -- the shared request path -------------------------------------------------------

    async def serve(
        self,
        request: web.Request,
        parse: Callable[[web.Request, Any], Exchange],
        render: Callable[[Exchange, str], dict[str, Any]],
    ) -> web.Response:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        headers = {k.lower(): v for k, v in request.headers.items()}
        seen = SeenRequest(request.method, request.path, headers, dict(request.query), body)
        if not self.authorized(request):
            self.requests.append(seen)
            return self.unauthorized(request)
        try:
            if not isinstance(body, dict):
                raise BadRequest("the request body must be a JSON object")
            exchange = parse(request, body)
        except BadRequest as exc:
            self.requests.append(seen)
            return self.error(400, str(exc))
        self.requests.append(
            SeenRequest(seen.method, seen.path, seen.headers, seen.query, body, exchange)
        )
        fault = self._faults.popleft() if self._faults else None
        text: str | None = None
        if fault is not None:
            if fault.kind == "rate_limit":
                return self.error(429, "rate limit exceeded", retry_after=fault.retry_after)
            if fault.kind == "server_error":
                return self.error(fault.status, "the server had an error")
            if fault.kind == "slow":
                assert self._closing is not None
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), fault.delay_s)
            if fault.kind == "reply":
                text = fault.text
        if text is None:
            text = self.answer(exchange)
        return web.json_response(render(exchange, text))

    def unauthorized(self, request: web.Request) -> web.Response:
        return self.error(401, "invalid api key")

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> ProtocolServer:
        """Start serving in a background thread; returns when the port accepts connections."""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name=f"{self.protocol}-server", daemon=True
        )
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._astart(), self._loop).result(timeout=30)
        return self

    async def _astart(self) -> None:
        self._closing = asyncio.Event()
        app = web.Application()
        app.add_routes(self.routes())
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = int(sock.getsockname()[1])
        await web.SockSite(self._runner, sock).start()

    async def _astop(self) -> None:
        if self._closing is not None:
            self._closing.set()  # releases slow replies
        if self._runner is not None:
            await self._runner.cleanup()

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._astop(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()
        self._loop = self._thread = None

    def __enter__(self) -> ProtocolServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _text_content(content: Any) -> str:
    """A message's text: a string, or the text of a list of content blocks/parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(p.get("text", "")) for p in content if isinstance(p, dict) and "text" in p
        )
    raise BadRequest("message content must be a string or a list of content parts")


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
                "system", "developer", "user", "assistant", "tool"
            ):  # fmt: skip
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
        return Exchange(model=model, system="\n".join(system), prompt=prompt, json_schema=schema,
                        options={k: body[k] for k in ("temperature", "max_tokens",
                                                      "max_completion_tokens") if k in body})  # fmt: skip

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
        return Exchange(model=model, system=system, prompt=prompt, json_schema=schema,
                        options={"tool": tool, "max_tokens": body["max_tokens"]})  # fmt: skip

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
                content = [{"type": "tool_use", "id": f"toolu_{uuid.uuid4().hex[:24]}",
                            "name": tool, "input": data}]  # fmt: skip
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
        return self.error(400, "API key not valid. Please pass a valid API key.",
                          reason="API_KEY_INVALID")  # fmt: skip

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
            details.append({"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                            "reason": reason, "domain": "googleapis.com"})  # fmt: skip
        if retry_after is not None:
            details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo",
                            "retryDelay": f"{retry_after:g}s"})  # fmt: skip
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
        return Exchange(model=model, system=system, prompt=prompt, json_schema=schema,
                        options=dict(config))  # fmt: skip

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


SERVERS: dict[str, type[ProtocolServer]] = {
    "openai": OpenAIServer,
    "anthropic": AnthropicServer,
    "gemini": GeminiServer,
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m selfheal.testing.protocol_servers",
        description="Serve a provider's wire protocol on 127.0.0.1, answering as the offline model.",
    )
    parser.add_argument("protocol", choices=sorted(SERVERS))
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--api-key", default="test-key", help="the key to require ('' for none)")
    args = parser.parse_args(argv)
    server = SERVERS[args.protocol](api_key=args.api_key or None, port=args.port)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with server:
        print(f"{args.protocol} protocol server at {server.base_url}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while not stop.wait(0.5):
                pass


if __name__ == "__main__":
    main()
