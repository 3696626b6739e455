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


class Prompt(Base):
    __tablename__ = "prompts"
    __table_args__ = (
        UniqueConstraint("task_type", "version"),
        CheckConstraint(
            "status IN ('candidate', 'canary', 'active', 'retired', 'rejected')", name="status"
        ),
        CheckConstraint("author IN ('seed', 'optimizer', 'human')", name="author"),
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
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(SafeString(36), unique=True)
    task_type: Mapped[str] = mapped_column(SafeString(64))
    status: Mapped[str] = mapped_column(SafeString(32), default="completed")
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
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(SafeString(36), unique=True)
    task_type: Mapped[str] = mapped_column(SafeString(64))
    kind: Mapped[str] = mapped_column(SafeString(16), default="optimize")
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
