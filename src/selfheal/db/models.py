"""ORM models: prompts (versions), execution_logs, optimization_runs (SPEC §6)."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    Index,
    Integer,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from selfheal.db.base import Base
from selfheal.db.types import SafeJSON, SafeString, SafeText

# Every text and JSON column keeps any string a client sent, NUL included (see db.types).
JSONType = SafeJSON()


def utcnow() -> datetime:
    return datetime.now(UTC)


class PromptStatus(StrEnum):
    CANDIDATE = "candidate"
    CANARY = "canary"
    ACTIVE = "active"
    RETIRED = "retired"
    REJECTED = "rejected"


class PromptAuthor(StrEnum):
    SEED = "seed"
    OPTIMIZER = "optimizer"
    HUMAN = "human"


class LogStatus(StrEnum):
    """How a request ended (``execution_logs.status``)."""

    COMPLETED = "completed"
    REJECTED = "rejected"  # refused as invalid (422): logged all the same
    INVALID_TASK_TYPE = "invalid_task_type"
    WORKER_UNAVAILABLE = "worker_unavailable"
    EVALUATOR_UNAVAILABLE = "evaluator_unavailable"
    DATABASE_UNAVAILABLE = "database_unavailable"
    CANCELLED = "cancelled"
    ERROR = "error"

    @classmethod
    def unavailable(cls, target: str) -> LogStatus:
        """The status of a request whose ``target`` service was down."""
        try:
            return cls(f"{target}_unavailable")
        except ValueError:
            return cls.ERROR


class RunKind(StrEnum):
    """What an ``optimization_runs`` row records."""

    OPTIMIZE = "optimize"  # analyse, search, replay, decide
    ROLLBACK = "rollback"  # a version re-activated (by a person or the monitor)
    CANARY = "canary"  # the monitor's decision on a canary


class RunTrigger(StrEnum):
    WATCHER = "watcher"
    API = "api"
    CLI = "cli"
    MONITOR = "monitor"
    MANUAL = "manual"  # a benchmark or a script calling the optimizer directly


class RunStatus(StrEnum):
    """A stored run's state; a report of a run that never started says ``skipped``."""

    RUNNING = "running"
    PROMOTED = "promoted"
    REJECTED = "rejected"
    FAILED = "failed"
    PENDING = "pending"  # its winner waits for an admin (OPTIMIZER_APPROVAL=admin)
    ROLLED_BACK = "rolled_back"
    SKIPPED = "skipped"  # reports only: never stored


class RunDecision(StrEnum):
    PROMOTED = "promoted"
    CANARY = "canary"
    REJECTED = "rejected"
    REJECTED_BY_ADMIN = "rejected_by_admin"
    AWAITING_APPROVAL = "awaiting_approval"
    NO_REPLAY_SET = "no_replay_set"
    NO_CANDIDATE = "no_candidate"
    ERROR = "error"
    ROLLBACK = "rollback"
    CANARY_PROMOTED = "canary_promoted"
    CANARY_REJECTED = "canary_rejected"
    # Why a run did not start (reports only: never stored)
    LOCKED = "locked"
    NO_PROMPT = "no_prompt"
    NOT_DUE = "not_due"


NOT_STORED = {RunStatus.SKIPPED, RunDecision.LOCKED, RunDecision.NO_PROMPT, RunDecision.NOT_DUE}


def one_of(column: str, values: type[StrEnum], *, nullable: bool = False) -> CheckConstraint:
    """A CHECK constraint holding ``column`` to the stored members of ``values``."""
    allowed = ", ".join(f"'{v.value}'" for v in values if v not in NOT_STORED)
    rule = f'"{column}" IN ({allowed})'
    return CheckConstraint(f'"{column}" IS NULL OR {rule}' if nullable else rule, name=column)


class Prompt(Base):
    __tablename__ = "prompts"
    __table_args__ = (
        UniqueConstraint("task_type", "version"),
        one_of("status", PromptStatus),
        one_of("author", PromptAuthor),
        # The database, not the code, guarantees one live prompt (and one canary) per task type.
        Index(
            "uq_prompts_one_active",
            "task_type",
            unique=True,
            postgresql_where=text("status = 'active'"),
            sqlite_where=text("status = 'active'"),
        ),
        Index(
            "uq_prompts_one_canary",
            "task_type",
            unique=True,
            postgresql_where=text("status = 'canary'"),
            sqlite_where=text("status = 'canary'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_type: Mapped[str] = mapped_column(SafeString(64))
    version: Mapped[int] = mapped_column(Integer)
    content: Mapped[str] = mapped_column(SafeText)
    status: Mapped[str] = mapped_column(SafeString(16))
    parent_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    author: Mapped[str] = mapped_column(SafeString(16))
    reason: Mapped[str] = mapped_column(SafeText, default="")
    canary_share: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    activated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ExecutionLog(Base):
    __tablename__ = "execution_logs"
    __table_args__ = (
        # The optimizer's trigger: failures of one task type in the last N minutes.
        Index(
            "ix_execution_logs_failures",
            "task_type",
            "created_at",
            postgresql_where=text("evaluation_passed = false"),
            sqlite_where=text("evaluation_passed = 0"),
        ),
        # Covering indexes (migration 0002): the dashboard's and the API's live stats per
        # prompt version, and its charts over a time window, read no table rows.
        Index(
            "ix_execution_logs_version_stats",
            "task_type",
            "prompt_version",
            "status",
            "evaluation_passed",
            "evaluation_score",
            "id",
        ),
        Index(
            "ix_execution_logs_timeline",
            "created_at",
            "task_type",
            "status",
            "evaluation_passed",
            "evaluation_score",
        ),
        one_of("status", LogStatus),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(SafeString(36), unique=True)
    task_type: Mapped[str] = mapped_column(SafeString(64))
    status: Mapped[str] = mapped_column(SafeString(32), default=LogStatus.COMPLETED)
    user_input: Mapped[str] = mapped_column(SafeText)
    tests: Mapped[str | None] = mapped_column(SafeText, nullable=True)
    entry_point: Mapped[str | None] = mapped_column(SafeString(128), nullable=True)
    refined_input: Mapped[str | None] = mapped_column(SafeText, nullable=True)
    worker_output: Mapped[str | None] = mapped_column(SafeText, nullable=True)
    code: Mapped[str | None] = mapped_column(SafeText, nullable=True)
    evaluation_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    evaluation_passed: Mapped[bool] = mapped_column(Boolean, default=False)
    failure_category: Mapped[str | None] = mapped_column(SafeString(32), nullable=True)
    evaluation_detail: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    prompt_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    prompt_status: Mapped[str | None] = mapped_column(SafeString(16), nullable=True)
    provider: Mapped[str | None] = mapped_column(SafeString(32), nullable=True)
    model: Mapped[str | None] = mapped_column(SafeString(128), nullable=True)
    input_tokens: Mapped[int | None] = mapped_column(Integer, nullable=True)
    output_tokens: Mapped[int | None] = mapped_column(Integer, nullable=True)
    latency_refine_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    latency_worker_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    latency_evaluator_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    latency_total_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    error: Mapped[str | None] = mapped_column(SafeText, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class OptimizationRun(Base):
    __tablename__ = "optimization_runs"
    __table_args__ = (
        Index("ix_optimization_runs_task_type_started_at", "task_type", "started_at"),
        one_of("kind", RunKind),
        one_of("trigger", RunTrigger),
        one_of("status", RunStatus),
        one_of("decision", RunDecision, nullable=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(SafeString(36), unique=True)
    task_type: Mapped[str] = mapped_column(SafeString(64))
    kind: Mapped[str] = mapped_column(SafeString(16), default=RunKind.OPTIMIZE)
    trigger: Mapped[str] = mapped_column(SafeString(16))
    status: Mapped[str] = mapped_column(SafeString(16))
    decision: Mapped[str | None] = mapped_column(SafeString(32), nullable=True)
    decision_reason: Mapped[str | None] = mapped_column(SafeText, nullable=True)
    failure_count: Mapped[int] = mapped_column(Integer, default=0)
    incumbent_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    new_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    analysis: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    candidates: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType, nullable=True)
    improvement_pct: Mapped[float | None] = mapped_column(Float, nullable=True)
    llm_calls: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(SafeText, nullable=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class OptimizerLock(Base):
    """A lease on one task type's optimizer, where the database has no advisory locks
    (SQLite; PostgreSQL uses ``pg_try_advisory_lock``). A lease older than the stale limit
    is taken over."""

    __tablename__ = "optimizer_locks"

    task_type: Mapped[str] = mapped_column(SafeString(64), primary_key=True)
    holder: Mapped[str] = mapped_column(SafeString(36))
    acquired_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
