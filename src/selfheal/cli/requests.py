"""`selfheal request`: send one request to a running manager."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import typer

from selfheal.cli._common import console, print_json, settings
from selfheal.services.common.auth import client_headers


def register(app: typer.Typer) -> None:
    @app.command("request")
    def request(
        user_input: str = typer.Argument(
            ..., help="What to build, e.g. 'Write a fibonacci function'"
        ),
        task_type: str = typer.Option("code_generation", "--task-type"),
        tests: Path | None = typer.Option(None, "--tests", help="A file of Python tests"),
        entry_point: str | None = typer.Option(None, "--entry-point"),
        url: str = typer.Option("http://127.0.0.1:8000", "--url", envvar="MANAGER_URL"),
        as_json: bool = typer.Option(False, "--json", help="Print the whole response"),
    ) -> None:
        """Send a code-generation request to the manager and show the verdict."""
        body = {"user_input": user_input, "task_type": task_type}
        if tests is not None:
            body["tests"] = tests.read_text()
        if entry_point:
            body["entry_point"] = entry_point
        try:
            resp = httpx.post(
                f"{url.rstrip('/')}/api/v1/request",
                json=body,
                timeout=300,
                headers=client_headers(settings().service.api_key),
            )
        except httpx.HTTPError as exc:
            console.print(f"[red]cannot reach the manager at {url}: {exc}[/red]")
            raise typer.Exit(2) from exc
        data = resp.json()
        if resp.status_code != 200:
            console.print(f"[red]HTTP {resp.status_code}[/red]")
            print_json(data)
            raise typer.Exit(1)
        if as_json:
            print_json(data)
            return
        verdict = "[green]PASS[/green]" if data["evaluation_passed"] else "[red]FAIL[/red]"
        console.print(
            f"{verdict} score={data['evaluation_score']:.3f} category={data['failure_category']} "
            f"prompt v{data['prompt_version']} request_id={data['request_id']}"
        )
        console.print(data["worker_output"])
        console.print(json.dumps(data["latency_ms"]))
