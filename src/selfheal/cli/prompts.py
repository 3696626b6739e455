"""`selfheal prompts ...`: inspect and change prompt versions (straight in the database)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from selfheal.cli._common import console, run_async, settings
from selfheal.core.errors import SelfhealError
from selfheal.db import execution_logs
from selfheal.db import prompts as prompt_repo
from selfheal.db.models import PromptAuthor, PromptStatus
from selfheal.db.session import create_engine, create_sessionmaker
from selfheal.services.optimizer import rollout

app = typer.Typer(help="Prompt versions: list, history, diff, set, rollback.", no_args_is_help=True)


def _sessionmaker() -> tuple[AsyncEngine, async_sessionmaker[AsyncSession]]:
    engine = create_engine(settings().db.resolved_url)
    return engine, create_sessionmaker(engine)


@app.command("list")
def list_cmd() -> None:
    """The live prompt of every task type."""

    async def go() -> None:
        engine, maker = _sessionmaker()
        async with maker() as session:
            rows = await prompt_repo.list_active(session)
        await engine.dispose()
        table = Table("task_type", "version", "status", "author", "reason", "first line")
        for p in rows:
            table.add_row(
                p.task_type,
                str(p.version),
                p.status,
                p.author,
                p.reason[:40],
                p.content.splitlines()[0][:60],
            )
        console.print(table)

    run_async(go())


@app.command("versions")
def versions_cmd(task_type: str = typer.Argument("code_generation")) -> None:
    """Every version of a task type with its parent, author, reason and live stats."""

    async def go() -> None:
        engine, maker = _sessionmaker()
        async with maker() as session:
            rows = await prompt_repo.list_versions(session, task_type=task_type)
            stats = await execution_logs.version_stats(session, task_type=task_type)
        await engine.dispose()
        table = Table(
            "version", "status", "parent", "author", "requests", "pass rate", "created", "reason"
        )
        for p in rows:
            s = stats.get(p.version, {})
            table.add_row(
                str(p.version), p.status, str(p.parent_version or "-"), p.author,
                str(int(s.get("requests", 0))), f"{s.get('pass_rate', 0.0):.0%}",
                p.created_at.strftime("%Y-%m-%d %H:%M:%S"), p.reason[:60],
            )  # fmt: skip
        console.print(table)

    run_async(go())


@app.command("diff")
def diff_cmd(
    task_type: str = typer.Argument("code_generation"),
    version: int | None = typer.Argument(None, help="Default: the active version"),
    against: int | None = typer.Option(None, "--against", help="Default: its parent"),
) -> None:
    """A unified diff of a version against its parent (or another version)."""

    async def go() -> str:
        engine, maker = _sessionmaker()
        try:
            async with maker() as session:
                return await prompt_repo.diff(
                    session, task_type=task_type, version=version, against=against
                )
        finally:
            await engine.dispose()

    try:
        typer.echo(run_async(go()), nl=False)
    except SelfhealError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc


@app.command("set")
def set_cmd(
    task_type: str = typer.Argument(...),
    file: Path = typer.Argument(
        ..., exists=True, readable=True, help="A file with the prompt text"
    ),
    reason: str = typer.Option("written by a person", "--reason"),
) -> None:
    """Add a human-written version and make it active."""

    content = file.read_text()

    async def go() -> int:
        engine, maker = _sessionmaker()
        try:
            async with maker() as session:
                active = await prompt_repo.get_active(session, task_type=task_type)
                prompt = await prompt_repo.create_version(
                    session, task_type=task_type, content=content, author=PromptAuthor.HUMAN.value,
                    reason=reason, parent_version=active.version if active else None,
                    status=PromptStatus.CANDIDATE.value,
                )  # fmt: skip
                await prompt_repo.activate(session, task_type=task_type, version=prompt.version)
                await session.commit()
                return prompt.version
        finally:
            await engine.dispose()

    console.print(f"{task_type}: v{run_async(go())} is active")


@app.command("rollback")
def rollback_cmd(
    task_type: str = typer.Argument("code_generation"),
    to_version: int | None = typer.Option(None, "--to", help="Default: the version live before"),
) -> None:
    """Re-activate an earlier version."""

    async def go() -> int:
        engine, maker = _sessionmaker()
        try:
            async with maker() as session:
                p = await rollout.rollback(
                    session, task_type=task_type, to_version=to_version,
                    reason="manual rollback from the CLI", trigger="cli",
                )  # fmt: skip
                return p.version
        finally:
            await engine.dispose()

    try:
        console.print(f"{task_type}: v{run_async(go())} is active again")
    except SelfhealError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
