"""`selfheal request` (one request, its verdict and its code) and `selfheal logs`."""

from __future__ import annotations

import contextlib
import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import typer
from rich.text import Text

from selfheal.cli._api import DEFAULT_URL, Api, ApiKeyOption, UrlOption
from selfheal.cli._common import console, print_code, print_json, print_text


def _verdict_line(data: dict[str, Any]) -> Text:
    line = Text()
    if data["evaluation_passed"]:
        line.append("PASS", style="bold green")
    else:
        line.append("FAIL", style="bold red")
    score = data.get("evaluation_score")
    line.append(f" score={score:.3f}" if score is not None else " score=-")
    line.append(f" category={data.get('failure_category')} prompt v{data.get('prompt_version')}")
    line.append(f" request_id={data['request_id']}")
    return line


def _log_line(row: dict[str, Any]) -> Text:
    when = datetime.fromisoformat(row["created_at"]).strftime("%Y-%m-%d %H:%M:%S")
    line = Text(f"{when} ")
    if row["evaluation_passed"]:
        line.append("pass", style="green")
    else:
        line.append(row.get("failure_category") or row["status"], style="red")
    score = row.get("evaluation_score")
    line.append(f" {score:.2f}" if score is not None else " -")
    line.append(f" {row['task_type']} v{row.get('prompt_version') or '-'}")
    line.append(f" {row.get('provider') or '-'}/{row.get('model') or '-'}")
    line.append(f" {row['request_id']} ")
    line.append(" ".join(row["user_input"].split())[:80], style="dim")
    return line


def register(app: typer.Typer) -> None:
    @app.command("request")
    def request(
        user_input: str = typer.Argument(
            ..., help="What to build, e.g. 'Write a fibonacci function'"
        ),
        task_type: str = typer.Option("code_generation", "--task-type"),
        tests: Path | None = typer.Option(
            None, "--tests", exists=True, dir_okay=False, help="A file of Python tests"
        ),
        entry_point: str | None = typer.Option(None, "--entry-point"),
        as_json: bool = typer.Option(False, "--json", help="Print the whole response"),
        url: UrlOption = DEFAULT_URL,
        api_key: ApiKeyOption = None,
    ) -> None:
        """Send a code-generation request, show the verdict and the code exactly as it ran."""
        body: dict[str, Any] = {"user_input": user_input, "task_type": task_type}
        if tests is not None:
            body["tests"] = tests.read_text()
        if entry_point:
            body["entry_point"] = entry_point
        with Api(url, api_key, timeout=600) as api, console.status("generating and evaluating…"):
            data = api.post("/api/v1/request", body)
        if as_json:
            print_json(data)
            return
        console.print(_verdict_line(data))
        if data.get("code") is not None:
            print_code(data["code"])
        else:
            print_text(data["worker_output"])
        latency = data["latency_ms"]
        console.print(Text(", ".join(f"{k} {v:.0f} ms" for k, v in latency.items()), style="dim"))

    @app.command("logs")
    def logs(
        failed: bool = typer.Option(False, "--failed", help="Only requests that did not pass"),
        follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new requests"),
        limit: int = typer.Option(20, "--limit", min=1, max=500),
        task_type: str | None = typer.Option(None, "--task-type"),
        interval: float = typer.Option(2.0, "--interval", help="Seconds between polls (--follow)"),
        as_json: bool = typer.Option(False, "--json", help="One JSON object per request"),
        url: UrlOption = DEFAULT_URL,
        api_key: ApiKeyOption = None,
    ) -> None:
        """The newest requests (oldest first), or only failures; --follow keeps watching."""
        params = {"limit": limit, "task_type": task_type, "passed": "false" if failed else None}
        seen: set[str] = set()
        with Api(url, api_key) as api, contextlib.suppress(KeyboardInterrupt):
            while True:
                rows = [
                    r for r in api.get("/api/v1/requests", **params) if r["request_id"] not in seen
                ]
                for row in reversed(rows):
                    seen.add(row["request_id"])
                    if as_json:
                        console.file.write(json.dumps(row) + "\n")
                        console.file.flush()
                    else:
                        console.print(_log_line(row), soft_wrap=True)
                if not follow:
                    return
                time.sleep(interval)
