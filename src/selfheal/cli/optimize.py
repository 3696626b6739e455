"""`selfheal optimize` (one pass: what the Kubernetes CronJob runs) and `selfheal watch`."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import typer
from prometheus_client import start_http_server

from selfheal.cli._common import console, print_json, run_async, settings
from selfheal.core.logging import configure_logging
from selfheal.services.optimizer.job import run_due
from selfheal.services.optimizer.rollout import monitor
from selfheal.services.optimizer.standalone import open_optimizer
from selfheal.services.optimizer.watcher import Watcher


async def optimize_once(task_type: str | None, force: bool, trigger: str) -> list[dict[str, Any]]:
    """Optimize what is due, then decide canaries / rollbacks, once."""
    opt = open_optimizer(settings())
    try:
        reports = await run_due(opt.deps, trigger=trigger, task_type=task_type, force=force)
        async with opt.runtime.sessionmaker() as session:
            for name in {r["task_type"] for r in reports}:
                action = await monitor(session, task_type=name, settings=opt.deps.settings)
                if action is not None:
                    reports.append(
                        {
                            "task_type": name,
                            "decision": action.action,
                            "decision_reason": action.reason,
                        }
                    )
        return reports
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
    ) -> None:
        """Analyse failures and heal prompts whose failures crossed the threshold (one pass)."""
        configure_logging("optimizer", settings().service.log_level)
        reports = run_async(optimize_once(task_type, force, "cli"))
        if as_json:
            print_json(reports)
            return
        for r in reports:
            console.print(
                f"{r.get('task_type')}: {r.get('decision')} — {r.get('decision_reason')}"
                + (f" (new version v{r['new_version']})" if r.get("new_version") else "")
            )

    @app.command("watch")
    def watch() -> None:
        """Run the event-driven optimizer alone (LISTEN/NOTIFY on PostgreSQL, polling on SQLite)."""
        configure_logging("optimizer", settings().service.log_level)
        run_async(watch_forever())
