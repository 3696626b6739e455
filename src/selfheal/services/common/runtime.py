"""What a service process holds for its lifetime: settings, DB engine, LLM clients."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from selfheal.core.config import Settings
from selfheal.db.session import create_engine, create_sessionmaker, ping
from selfheal.llm.base import Role
from selfheal.llm.client import LLMClient


@dataclass
class Runtime:
    service: str
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    llm: dict[Role, LLMClient] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)

    def client(self, role: Role) -> LLMClient:
        return self.llm[role]

    async def readiness(self) -> dict[str, Any]:
        """What /ready reports: the DB, each LLM client's breaker, plus service extras."""
        checks: dict[str, Any] = {"database": await ping(self.engine)}
        for role, client in self.llm.items():
            checks[f"llm_{role.value}"] = {
                "provider": client.provider.name,
                "model": client.provider.model,
                "circuit": client.breaker.state,
                "circuit_open": client.breaker.is_open,
                **(await client.provider.status() or {}),
            }
        checks.update(self.extras.get("readiness", {}))
        return checks

    async def aclose(self) -> None:
        for client in self.llm.values():
            await client.aclose()
        await self.engine.dispose()


def open_runtime(service: str, settings: Settings, roles: Iterable[Role]) -> Runtime:
    """Build the engine and the LLM clients a service needs; fails fast on bad config."""
    engine = create_engine(settings.db.resolved_url, pool_size=settings.db.pool_size)
    llm = {role: LLMClient.for_role(settings.llm, role) for role in roles}
    return Runtime(
        service=service,
        settings=settings,
        engine=engine,
        sessionmaker=create_sessionmaker(engine),
        llm=llm,
    )
