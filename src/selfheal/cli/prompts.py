"""`selfheal prompts ...`: inspect and change prompt versions through the manager's API."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text

from selfheal.cli._api import (
    DEFAULT_URL,
    AdminKeyOption,
    Api,
    ApiKeyOption,
    CliError,
    UrlOption,
)
from selfheal.cli._common import console, print_diff

app = typer.Typer(help="Prompt versions: list, history, diff, set, rollback.", no_args_is_help=True)
DEFAULT_TASK = "code_generation"


def _when(value: str) -> str:
    return datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M:%S")


@app.command("list")
def list_cmd(url: UrlOption = DEFAULT_URL, api_key: ApiKeyOption = None) -> None:
    """The live prompt of every task type (and any canary)."""
    with Api(url, api_key) as api:
        rows = api.get("/api/v1/prompts")
    table = Table("task_type", "version", "status", "canary", "author", "reason", "first line")
    for p in rows:
        share = p.get("canary_share")
        table.add_row(
            Text(p["task_type"]),
            str(p["version"]),
            p["status"],
            f"{share:.0%}" if share is not None else "-",
            p["author"],
            Text(p["reason"][:40]),
            Text((p["content"].splitlines() or [""])[0][:60]),
        )
    console.print(table)


@app.command("versions")
def versions_cmd(
    task_type: str = typer.Argument(DEFAULT_TASK),
    url: UrlOption = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """Every version of a task type with its parent, author, reason and live stats."""
    with Api(url, api_key) as api:
        rows = api.get(f"/api/v1/prompts/{task_type}/versions")
    table = Table(
        "version", "status", "parent", "author", "requests", "pass rate", "created", "reason"
    )
    for p in rows:
        s = p.get("stats") or {}
        table.add_row(
            str(p["version"]),
            p["status"],
            str(p["parent_version"] or "-"),
            p["author"],
            str(int(s.get("requests", 0))),
            f"{s.get('pass_rate', 0.0):.0%}",
            _when(p["created_at"]),
            Text(p["reason"][:60]),
        )
    console.print(table)


@app.command("diff")
def diff_cmd(
    task_type: str = typer.Argument(DEFAULT_TASK),
    a: int | None = typer.Argument(None, help="From this version (alone: this one vs its parent)"),
    b: int | None = typer.Argument(None, help="To this version"),
    url: UrlOption = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """A unified diff: A -> B, or A against its parent, or the active version against its parent."""
    with Api(url, api_key) as api:
        if a is None:
            active = next(
                (
                    p
                    for p in api.get("/api/v1/prompts")
                    if p["task_type"] == task_type and p["status"] == "active"
                ),
                None,
            )
            if active is None:
                raise CliError(f"task type {task_type!r} has no active prompt")
            version, against = active["version"], None
        elif b is None:
            version, against = a, None
        else:
            version, against = b, a
        text = api.get_text(f"/api/v1/prompts/{task_type}/versions/{version}/diff", against=against)
    print_diff(text)


@app.command("set")
def set_cmd(
    task_type: str = typer.Argument(...),
    file: Path = typer.Argument(
        ..., exists=True, readable=True, dir_okay=False, help="A file with the prompt text"
    ),
    reason: str = typer.Option("written by a person", "--reason"),
    url: UrlOption = DEFAULT_URL,
    api_key: ApiKeyOption = None,
    admin_key: AdminKeyOption = None,
) -> None:
    """Add a human-written version and make it active."""
    with Api(url, admin_key or api_key) as api:
        prompt = api.post(
            f"/api/v1/prompts/{task_type}", {"content": file.read_text(), "reason": reason}
        )
    console.print(Text(f"{task_type}: v{prompt['version']} is active"))


@app.command("rollback")
def rollback_cmd(
    task_type: str = typer.Argument(DEFAULT_TASK),
    to_version: int | None = typer.Option(None, "--to", help="Default: the version live before"),
    url: UrlOption = DEFAULT_URL,
    api_key: ApiKeyOption = None,
    admin_key: AdminKeyOption = None,
) -> None:
    """Re-activate an earlier version."""
    with Api(url, admin_key or api_key) as api:
        prompt = api.post(
            f"/api/v1/prompts/{task_type}/rollback",
            {"to_version": to_version, "reason": "manual rollback from the CLI", "trigger": "cli"},
        )
    console.print(Text(f"{task_type}: v{prompt['version']} is active again"))
