"""Pure-ASGI middleware (cheaper than BaseHTTPMiddleware): request id, metrics, body cap."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from selfheal.core import metrics
from selfheal.core.logging import request_id_var


class ServiceMiddleware:
    def __init__(self, app: ASGIApp, *, service: str, max_body_bytes: int) -> None:
        self.app = app
        self.service = service
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        rid = headers.get(b"x-request-id", b"").decode("latin-1")[:64] or str(uuid.uuid4())
        token = request_id_var.set(rid)
        start = time.perf_counter()
        status = {"code": 500}

        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
            await _reject_too_large(send, self.max_body_bytes)
            self._observe(scope, 413, start)
            request_id_var.reset(token)
            return

        received = 0
        too_large = False

        async def capped_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    too_large = True
                    raise _BodyTooLarge
            return message

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, capped_receive, send_wrapper)
        except _BodyTooLarge:
            await _reject_too_large(send, self.max_body_bytes)
            status["code"] = 413
        finally:
            self._observe(scope, status["code"], start)
            request_id_var.reset(token)

    def _observe(self, scope: Scope, code: int, start: float) -> None:
        route = scope.get("route")
        path = getattr(route, "path", None) or "unmatched"
        metrics.HTTP_REQUESTS.labels(self.service, path, scope.get("method", ""), str(code)).inc()
        metrics.HTTP_LATENCY.labels(self.service, path).observe(time.perf_counter() - start)


class _BodyTooLarge(Exception):
    pass


async def _reject_too_large(send: Send, limit: int) -> None:
    body: dict[str, Any] = {
        "detail": f"The request body is larger than the limit of {limit} bytes.",
    }
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})
