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
import contextlib
import signal
import threading

from selfheal.testing.protocol_servers._base import (
    BadRequest,
    Exchange,
    Fault,
    ProtocolServer,
    SeenRequest,
    offline_answer,
)
from selfheal.testing.protocol_servers.anthropic import AnthropicServer
from selfheal.testing.protocol_servers.gemini import GeminiServer
from selfheal.testing.protocol_servers.openai import OpenAIServer

__all__ = [
    "SERVERS",
    "AnthropicServer",
    "BadRequest",
    "Exchange",
    "Fault",
    "GeminiServer",
    "OpenAIServer",
    "ProtocolServer",
    "SeenRequest",
    "main",
    "offline_answer",
]


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
