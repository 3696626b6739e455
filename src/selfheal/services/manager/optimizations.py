"""One optimizer pass as the API and `selfheal optimize --in-process` run it: heal what is
due, then decide canaries and rollbacks of the task types it looked at."""

from __future__ import annotations

from typing import Any

from selfheal.services.optimizer.job import OptimizerDeps, run_due
from selfheal.services.optimizer.rollout import monitor


async def optimize_pass(
    deps: OptimizerDeps, *, trigger: str, task_type: str | None = None, force: bool = False
) -> list[dict[str, Any]]:
    """Optimize every due task type (or the one given), then monitor each once."""
    reports = await run_due(deps, trigger=trigger, task_type=task_type, force=force)
    async with deps.sessionmaker() as session:
        for name in sorted({r["task_type"] for r in reports}):
            action = await monitor(session, task_type=name, settings=deps.settings)
            if action is not None:
                reports.append(
                    {"task_type": name, "decision": action.action, "decision_reason": action.reason}
                )
    return reports
