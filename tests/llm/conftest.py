"""Fixtures: protocol servers on 127.0.0.1, the provider classes that talk to them, settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from selfheal.core.config import LLMSettings
from selfheal.llm.base import Provider, Role
from selfheal.llm.client import LLMClient
from selfheal.llm.registry import get_provider_class
from selfheal.testing.protocol_servers import SERVERS, ProtocolServer

API_KEY = "sk-test-0123456789abcdefXYZ"


def llm_settings(**overrides: object) -> LLMSettings:
    """Settings for tests: short timeouts, and no environment leaking in."""
    values: dict[str, object] = {
        "provider": "offline",
        "api_key": None,
        "model": None,
        "base_url": None,
        "timeout_s": 2.0,
        "max_retries": 2,
        "retry_max_wait_s": 30.0,
        "breaker_failures": 5,
        "breaker_reset_s": 30.0,
    }
    values.update(overrides)
    return LLMSettings(**values)  # type: ignore[arg-type]


class SleepRecorder:
    """Stands in for asyncio.sleep between retries: records the wait, does not wait."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@dataclass
class Wire:
    """A provider's SDK pointed at a local server speaking its protocol."""

    name: str
    server: ProtocolServer
    provider: Provider

    def client(
        self, role: Role = Role.WORKER, **overrides: object
    ) -> tuple[LLMClient, SleepRecorder]:
        sleeps = SleepRecorder()
        settings = llm_settings(
            provider=self.name, api_key=API_KEY, base_url=self.server.base_url, **overrides
        )
        return LLMClient(self.provider, role, settings, sleep=sleeps), sleeps


def make_provider(
    name: str,
    server: ProtocolServer,
    *,
    api_key: str | None = API_KEY,
    timeout_s: float = 2.0,
    model: str = "test-model",
) -> Provider:
    cls = get_provider_class(name)
    return cls(model=model, api_key=api_key, base_url=server.base_url, timeout_s=timeout_s)


@pytest.fixture(params=["openai", "anthropic", "gemini"])
async def wire(request: pytest.FixtureRequest) -> AsyncIterator[Wire]:
    """Each real provider in turn, with its SDK talking to its local protocol server."""
    name = str(request.param)
    with SERVERS[name](api_key=API_KEY) as server:
        provider = make_provider(name, server)
        try:
            yield Wire(name, server, provider)
        finally:
            await provider.aclose()
