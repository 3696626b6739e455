"""What one optimizer step reports: a stored run (``RunReport.of``) or a run that never
started (``RunReport.skipped``). The API, the CLI, the watcher and the benchmarks all read
this one shape."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from selfheal.db.models import OptimizationRun, RunDecision, RunStatus


class RunReport(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    task_type: str
    status: RunStatus
    decision: RunDecision | None
    decision_reason: str | None
    run_id: str | None = None  # None: skipped, nothing stored
    kind: str | None = None
    trigger: str | None = None
    failure_count: int = 0
    incumbent_version: int | None = None
    new_version: int | None = None
    improvement_pct: float | None = None
    llm_calls: int = 0
    analysis: dict[str, Any] | None = None
    candidates: list[dict[str, Any]] | None = None
    error: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @classmethod
    def of(cls, run: OptimizationRun) -> RunReport:
        return cls.model_validate(run)

    @classmethod
    def skipped(
        cls, task_type: str, decision: RunDecision, reason: str, *, failure_count: int = 0
    ) -> RunReport:
        return cls(
            task_type=task_type,
            status=RunStatus.SKIPPED,
            decision=decision,
            decision_reason=reason,
            failure_count=failure_count,
        )
