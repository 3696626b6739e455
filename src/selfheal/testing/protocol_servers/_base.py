"""What the three protocol servers share: faults, recorded exchanges, the server loop."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
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
