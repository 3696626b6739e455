"""Helpers shared by CLI commands."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine
from typing import Any, TypeVar

from rich.console import Console

from selfheal.core.config import Settings, get_settings

T = TypeVar("T")
console = Console()


def settings() -> Settings:
    return get_settings()


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    try:
        import uvloop

        return uvloop.run(coro)
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        return asyncio.run(coro)


def print_json(data: Any) -> None:
    console.print_json(json.dumps(data, default=str))
