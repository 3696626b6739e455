"""`selfheal optimize` (one pass: what the Kubernetes CronJob runs) and `selfheal watch`."""

from __future__ import annotations

import asyncio
import signal

import typer
from prometheus_client import start_http_server
from rich.text import Text

from selfheal.cli._api import DEFAULT_URL, AdminKeyOption, Api, ApiKeyOption, UrlOption
from selfheal.cli._common import console, print_json, run_async, settings
from selfheal.core.logging import configure_logging
from selfheal.db.models import RunTrigger
from selfheal.services.manager.optimizations import optimize_pass
from selfheal.services.manager.schemas import OptimizationPassOut
from selfheal.services.optimizer.report import RunReport
from selfheal.services.optimizer.standalone import open_optimizer
from selfheal.services.optimizer.watcher import Watcher


async def optimize_in_process(task_type: str | None, force: bool) -> list[RunReport]:
    """One pass in this process, against DATABASE_URL (what the CronJob runs)."""
    opt = open_optimizer(settings())
    try:
        return await optimize_pass(
            opt.deps, trigger=RunTrigger.CLI, task_type=task_type, force=force
        )
    finally:
        await opt.aclose()


async def watch_forever() -> None:
    cfg = settings()
    if cfg.optimizer.metrics_port:
        # The optimizer's runs, decisions and rollbacks, for Prometheus to scrape.
        start_http_server(cfg.optimizer.metrics_port)
    opt = open_optimizer(cfg)
    watcher = Watcher(opt.deps)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, watcher.stop)
    try:
        await watcher.run()
    finally:
        await opt.aclose()


def register(app: typer.Typer) -> None:
    @app.command("optimize")
    def optimize(
        task_type: str | None = typer.Option(None, "--task-type", help="Only this task type"),
        force: bool = typer.Option(False, "--force", help="Run even below the failure threshold"),
        as_json: bool = typer.Option(False, "--json"),
        in_process: bool = typer.Option(
            False,
            "--in-process",
            help="Run the pass here against DATABASE_URL instead of asking the manager "
            "(the Kubernetes CronJob's mode: it is part of the system, not a client)",
        ),
        url: UrlOption = DEFAULT_URL,
        api_key: ApiKeyOption = None,
        admin_key: AdminKeyOption = None,
    ) -> None:
        """Analyse failures and heal prompts whose failures crossed the threshold (one pass)."""
        if in_process:
            configure_logging("optimizer", settings().service.log_level)
            reports = run_async(optimize_in_process(task_type, force))
        else:
            body = {"task_type": task_type, "force": force}
            with (
                Api(url, admin_key or api_key) as api,
                console.status("optimizing (replaying traffic)…"),
            ):
                answer = api.post("/api/v1/optimizations/run", body, timeout=3600)
                reports = OptimizationPassOut.model_validate(answer).runs
        if as_json:
            print_json([r.model_dump(mode="json") for r in reports])
            return
        for r in reports:
            new = f" (new version v{r.new_version})" if r.new_version else ""
            console.print(Text(f"{r.task_type}: {r.decision} — {r.decision_reason}{new}"))

    @app.command("approve")
    def approve(
        run_id: str = typer.Argument(..., help="The run holding the candidate (selfheal logs)"),
        reject: bool = typer.Option(False, "--reject", help="Reject the candidate instead"),
        reason: str = typer.Option("decided from the CLI", "--reason"),
        url: UrlOption = DEFAULT_URL,
        api_key: ApiKeyOption = None,
        admin_key: AdminKeyOption = None,
    ) -> None:
        """Approve (or --reject) a winner held by OPTIMIZER_APPROVAL=admin."""
        action = "reject" if reject else "approve"
        with Api(url, admin_key or api_key) as api:
            run = api.post(f"/api/v1/optimizations/{run_id}/{action}", {"reason": reason})
        console.print(
            Text(
                f"{run['task_type']}: v{run['new_version']} {run['decision']} — "
                f"{run['decision_reason']}"
            )
        )

    @app.command("watch")
    def watch() -> None:
        """Run the event-driven optimizer alone (LISTEN/NOTIFY on PostgreSQL, polling on SQLite)."""
        configure_logging("optimizer", settings().service.log_level)
        run_async(watch_forever())
