"""`selfheal optimize`: one optimizer pass (what the Kubernetes CronJob runs)."""

from __future__ import annotations

from typing import Any

import typer

from selfheal.cli._common import console, print_json, run_async, settings
from selfheal.llm.base import Role
from selfheal.services.common.runtime import open_runtime
from selfheal.services.manager.clients import EvaluatorClient, WorkerClient
from selfheal.services.optimizer.job import OptimizerDeps, run_due
from selfheal.services.optimizer.replay import HttpReplayer
from selfheal.services.optimizer.rollout import monitor


async def optimize_once(task_type: str | None, force: bool, trigger: str) -> list[dict[str, Any]]:
    cfg = settings()
    runtime = open_runtime("optimizer", cfg, [Role.ANALYST, Role.OPTIMIZER])
    svc = cfg.service
    worker = WorkerClient(name="worker", base_url=svc.worker_url, timeout_s=svc.request_timeout_s)
    evaluator = EvaluatorClient(
        name="evaluator", base_url=svc.evaluator_url, timeout_s=svc.request_timeout_s
    )
    replayer = HttpReplayer(worker, evaluator)
    deps = OptimizerDeps(
        engine=runtime.engine, sessionmaker=runtime.sessionmaker,
        analyst=runtime.client(Role.ANALYST), optimizer=runtime.client(Role.OPTIMIZER),
        replayer=replayer, settings=cfg.optimizer,
    )  # fmt: skip
    try:
        reports = await run_due(deps, trigger=trigger, task_type=task_type, force=force)
        if task_type:
            async with runtime.sessionmaker() as session:
                action = await monitor(session, task_type=task_type, settings=cfg.optimizer)
                if action is not None:
                    reports.append(
                        {
                            "task_type": task_type,
                            "decision": action.action,
                            "decision_reason": action.reason,
                        }
                    )
        return reports
    finally:
        await replayer.aclose()
        await runtime.aclose()


def register(app: typer.Typer) -> None:
    @app.command("optimize")
    def optimize(
        task_type: str | None = typer.Option(None, "--task-type", help="Only this task type"),
        force: bool = typer.Option(False, "--force", help="Run even below the failure threshold"),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Analyse failures and heal prompts whose failures crossed the threshold (one pass)."""
        reports = run_async(optimize_once(task_type, force, "cli"))
        if as_json:
            print_json(reports)
            return
        for r in reports:
            console.print(
                f"{r.get('task_type')}: {r.get('decision')} — {r.get('decision_reason')}"
                + (f" (new version v{r['new_version']})" if r.get("new_version") else "")
            )
