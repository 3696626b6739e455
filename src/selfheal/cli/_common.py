"""Helpers shared by CLI commands: the console, async runner, and printing that never
interprets what it prints (code, diffs and model output are shown as they are)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine
from typing import Any, TypeVar

from rich.console import Console
from rich.syntax import Syntax
from rich.text import Text

from selfheal.core.config import Settings, get_settings

T = TypeVar("T")
console = Console()
err_console = Console(stderr=True)


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


def print_code(code: str, *, lexer: str = "python", out: Console | None = None) -> None:
    """Code exactly as it ran. On a terminal: highlighted by rich's Syntax (a lexer, never
    markup; tabs kept, no wrapping); piped or redirected: the bytes as they are."""
    out = out or console
    if not out.is_terminal:
        out.file.write(code if code.endswith("\n") else code + "\n")
        out.file.flush()
        return
    width = max((len(line) for line in code.splitlines()), default=1)
    out.print(
        Syntax(
            code.removesuffix("\n"),
            lexer,
            theme="ansi_dark",
            word_wrap=False,
            tab_size=8,
            code_width=width,
            background_color="default",
        ),
        crop=False,
        soft_wrap=True,
    )


def print_diff(text: str) -> None:
    """A unified diff, coloured on a terminal, verbatim otherwise."""
    print_code(text, lexer="diff")


def print_text(text: str, *, style: str | None = None) -> None:
    """Text from the system (model output, inputs, reasons), never read as rich markup."""
    console.print(Text(text, style=style or ""), soft_wrap=True)
