"""One factory for the three service apps: logging, middleware, errors, health routes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI

from selfheal import __version__
from selfheal.core.config import Settings, get_settings
from selfheal.core.logging import configure_logging
from selfheal.llm.base import Role
from selfheal.services.common import errors, health
from selfheal.services.common.admission import Admission, admission_for
from selfheal.services.common.auth import require_api_key
from selfheal.services.common.middleware import ServiceMiddleware
from selfheal.services.common.runtime import Runtime, ServiceState, open_runtime

# Builds the service's own state once the runtime is open; the state's aclose() ends it.
StartHook = Callable[[Runtime], Awaitable[ServiceState]]


def create_service_app(
    *,
    service: str,
    title: str,
    routers: Iterable[APIRouter],
    roles: Iterable[Role],
    on_start: StartHook | None = None,
    settings: Settings | None = None,
) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(service, settings.service.log_level)
    roles = tuple(roles)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = open_runtime(service, settings, roles)
        app.state.runtime = runtime
        try:
            if on_start is not None:
                runtime.state = await on_start(runtime)
            yield
        finally:
            await runtime.aclose()

    app = FastAPI(title=title, version=__version__, lifespan=lifespan)
    app.add_middleware(Admission, **admission_for(service, settings.service))  # type: ignore[arg-type]
    app.add_middleware(
        ServiceMiddleware, service=service, max_body_bytes=settings.service.max_body_bytes
    )
    errors.install(app)
    app.include_router(health.router)
    for router in routers:
        app.include_router(router, dependencies=[Depends(require_api_key)])
    return app
