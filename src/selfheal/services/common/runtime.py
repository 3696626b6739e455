"""What a service process holds for its lifetime: settings, DB engine, LLM clients, and
the service's own typed state (the manager's clients, the evaluator's sandbox)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from selfheal.core.config import Settings
from selfheal.db.session import create_engine, create_sessionmaker, ping
from selfheal.llm.base import Role
from selfheal.llm.client import LLMClient


class ServiceState(Protocol):
    """What one service adds to the shared runtime (made by its start hook)."""

    def readiness(self) -> dict[str, Any]:
        """Checks merged into /ready (a dict with ``ok: False`` makes the service not ready)."""
        ...

    async def aclose(self) -> None: ...


S = TypeVar("S", bound=ServiceState)


@dataclass
class Runtime:
    service: str
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    llm: dict[Role, LLMClient] = field(default_factory=dict)
    state: ServiceState | None = None

    def client(self, role: Role) -> LLMClient:
        return self.llm[role]

    def state_as(self, kind: type[S]) -> S:
        """This service's state, typed; an error when the app was built without it."""
        if not isinstance(self.state, kind):
            raise RuntimeError(f"the {self.service} has no {kind.__name__} (not started?)")
        return self.state

    async def readiness(self) -> dict[str, Any]:
        """What /ready reports: the DB, each LLM client's breaker, plus the service's own."""
        checks: dict[str, Any] = {"database": await ping(self.engine)}
        for role, client in self.llm.items():
            checks[f"llm_{role.value}"] = {
                "provider": client.provider.name,
                "model": client.provider.model,
                "circuit": client.breaker.state,
                "circuit_open": client.breaker.is_open,
                **(await client.provider.status() or {}),
            }
        if self.state is not None:
            checks.update(self.state.readiness())
        return checks

    async def aclose(self) -> None:
        if self.state is not None:
            await self.state.aclose()
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
