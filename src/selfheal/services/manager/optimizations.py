"""One optimizer pass as the API and `selfheal optimize --in-process` run it: heal what is
due, then decide canaries and rollbacks of the task types it looked at. And an admin's
decision on a winner held for approval (``OPTIMIZER_APPROVAL=admin``)."""

from __future__ import annotations

from selfheal.db.models import OptimizationRun, RunTrigger
from selfheal.services.optimizer import rollout
from selfheal.services.optimizer.deps import OptimizerDeps
from selfheal.services.optimizer.job import run_due
from selfheal.services.optimizer.report import RunReport
from selfheal.services.optimizer.rollout import monitor


async def optimize_pass(
    deps: OptimizerDeps, *, trigger: RunTrigger, task_type: str | None = None, force: bool = False
) -> list[RunReport]:
    """Optimize every due task type (or the one given), then monitor each once."""
    reports = await run_due(deps, trigger=trigger, task_type=task_type, force=force)
    async with deps.sessionmaker() as session:
        for name in sorted({r.task_type for r in reports}):
            decided = await monitor(session, task_type=name, settings=deps.settings)
            if decided is not None:
                await session.commit()
                reports.append(RunReport.of(decided))
    return reports


async def decide(
    deps: OptimizerDeps, *, run_id: str, approve: bool, reason: str
) -> OptimizationRun:
    """Approve (it goes live as the run would have put it) or reject a held candidate; one
    transaction."""
    async with deps.sessionmaker() as session:
        if approve:
            run = await rollout.approve(session, run_id=run_id, settings=deps.settings)
        else:
            run = await rollout.reject(session, run_id=run_id, reason=reason)
        await session.commit()
        await session.refresh(run)
        return run
