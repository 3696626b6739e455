"""Worker :8001 — the LLM with a system prompt loaded from the DB on every request."""

from __future__ import annotations

from fastapi import FastAPI

from selfheal.core.config import Settings
from selfheal.llm.base import Role
from selfheal.services.common.app import create_service_app
from selfheal.services.worker.router import router


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        service="worker",
        title="selfheal worker",
        routers=[router],
        roles=[Role.WORKER],
        settings=settings,
    )
