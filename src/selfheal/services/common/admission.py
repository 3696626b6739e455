"""Admission before any work: a per-key rate limit and a bound on in-flight work.

- **Rate limit** (``SELFHEAL_RATE_LIMIT``, e.g. ``20/second;600/minute``; off unless set):
  the `limits` library's moving window, per client key (the hash of the presented key, else
  the client address), on the manager's ``/api`` routes. Over it: 429 with ``Retry-After``
  (the seconds until the window lets the next call in). Counts live in
  ``SELFHEAL_RATE_LIMIT_STORAGE`` (``memory://``: per process; a ``redis://`` URI shares
  them between replicas).
- **In-flight bound** (``SERVICE_MAX_IN_FLIGHT``, every service): at most this many ``/api``
  requests are served at once; one more is shed at once with 503 and ``Retry-After: 1``
  instead of queueing without end. The manager turns a worker's or evaluator's 503 into its
  own 503 with the request_id, and that request is logged.

Health, readiness, metrics and the dashboard are never limited. Both answers are counted in
``selfheal_requests_shed_total``; neither writes a log row (a flood must not become a flood
of rows).
"""

from __future__ import annotations

import hashlib
import json
import math
import time

from limits import RateLimitItem, parse_many
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from starlette.types import ASGIApp, Receive, Scope, Send

from selfheal.core import metrics
from selfheal.core.config import ServiceSettings
from selfheal.core.logging import request_id_var

_LIMITED_PREFIX = "/api/"


class RateLimit:
    """The per-key limits, one `limits` moving-window limiter over a storage URI."""

    def __init__(self, spec: str, storage_uri: str) -> None:
        self.items: list[RateLimitItem] = parse_many(spec)
        self.limiter = MovingWindowRateLimiter(storage_from_string(storage_uri))

    def retry_after(self, key: str) -> int | None:
        """None (and the call counted) when ``key`` may call now, else seconds to wait."""
        for item in self.items:
            if not self.limiter.test(item, "selfheal", key):
                reset = self.limiter.get_window_stats(item, "selfheal", key).reset_time
                return max(1, math.ceil(reset - time.time()))
        for item in self.items:
            self.limiter.hit(item, "selfheal", key)
        return None


def client_identity(scope: Scope) -> str:
    """Whom a request counts against: its key (hashed, never kept), else its address."""
    key = b""
    for name, value in scope.get("headers") or []:
        if name == b"authorization" and value[:7].lower() == b"bearer ":
            key = value[7:].strip()
            break
        if name == b"x-api-key":
            key = value
    if key:
        return "key:" + hashlib.sha256(key).hexdigest()[:24]
    client = scope.get("client")
    return f"addr:{client[0] if client else 'unknown'}"


class Admission:
    """Pure-ASGI middleware: the rate limit (when set), then the in-flight bound."""

    def __init__(
        self, app: ASGIApp, *, service: str, max_in_flight: int, rate_limit: RateLimit | None
    ) -> None:
        self.app = app
        self.service = service
        self.max_in_flight = max_in_flight
        self.rate_limit = rate_limit
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(_LIMITED_PREFIX):
            await self.app(scope, receive, send)
            return
        if self.rate_limit is not None:
            wait = self.rate_limit.retry_after(client_identity(scope))
            if wait is not None:
                metrics.REQUESTS_SHED.labels(self.service, "rate_limited").inc()
                await _refuse(
                    send,
                    429,
                    wait,
                    f"Too many requests for this key: the limit is {_spec(self.rate_limit)} "
                    f"(SELFHEAL_RATE_LIMIT). Retry in {wait} s.",
                )
                return
        if self.in_flight >= self.max_in_flight:
            metrics.REQUESTS_SHED.labels(self.service, "overloaded").inc()
            await _refuse(
                send,
                503,
                1,
                f"The {self.service} is busy: {self.in_flight} requests are in flight and the "
                f"limit is {self.max_in_flight} (SERVICE_MAX_IN_FLIGHT). Retry shortly.",
            )
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


def _spec(rate_limit: RateLimit) -> str:
    return "; ".join(str(item) for item in rate_limit.items)


async def _refuse(send: Send, status: int, retry_after: int, message: str) -> None:
    body = json.dumps({"detail": message, "request_id": request_id_var.get()}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", str(retry_after).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def admission_for(service: str, settings: ServiceSettings) -> dict[str, object]:
    """The middleware's options for ``service`` (the rate limit is the manager's alone: the
    worker and evaluator are called by the manager and the optimizer, whose pace the
    in-flight bound governs)."""
    limit = None
    if service == "manager" and settings.rate_limit:
        limit = RateLimit(settings.rate_limit, settings.rate_limit_storage)
    return {"service": service, "max_in_flight": settings.max_in_flight, "rate_limit": limit}
