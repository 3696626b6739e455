"""Initial schema: prompts, execution_logs, optimization_runs; seed code_generation prompt.

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")

# A copy, not an import: a migration must not change when application code does.
SEED_PROMPT = """You are an expert Python engineer who writes correct, production-quality code.
Solve exactly the programming task the user asks for.
Reply with the code only, in a single fenced ```python code block, with no text before or after it.
Use exactly the function name the user asks for.
Handle edge cases correctly: empty inputs, zero, negative numbers, duplicates and boundaries.
Include a docstring and type hints on every function."""


def upgrade() -> None:
    prompts = op.create_table(
        "prompts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("task_type", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("parent_version", sa.Integer(), nullable=True),
        sa.Column("author", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("canary_share", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('candidate', 'canary', 'active', 'retired', 'rejected')",
            name=op.f("ck_prompts_status"),
        ),
        sa.CheckConstraint(
            "author IN ('seed', 'optimizer', 'human')", name=op.f("ck_prompts_author")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prompts")),
        sa.UniqueConstraint("task_type", "version", name=op.f("uq_prompts_task_type_version")),
    )
    op.create_index(
        "uq_prompts_one_active",
        "prompts",
        ["task_type"],
        unique=True,
        postgresql_where=sa.text("status = 'active'"),
        sqlite_where=sa.text("status = 'active'"),
    )
    op.create_index(
        "uq_prompts_one_canary",
        "prompts",
        ["task_type"],
        unique=True,
        postgresql_where=sa.text("status = 'canary'"),
        sqlite_where=sa.text("status = 'canary'"),
    )

    op.create_table(
        "execution_logs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("request_id", sa.String(36), nullable=False),
        sa.Column("task_type", sa.String(64), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("user_input", sa.Text(), nullable=False),
        sa.Column("tests", sa.Text(), nullable=True),
        sa.Column("entry_point", sa.String(128), nullable=True),
        sa.Column("refined_input", sa.Text(), nullable=True),
        sa.Column("worker_output", sa.Text(), nullable=True),
        sa.Column("code", sa.Text(), nullable=True),
        sa.Column("evaluation_score", sa.Float(), nullable=True),
        sa.Column("evaluation_passed", sa.Boolean(), nullable=False),
        sa.Column("failure_category", sa.String(32), nullable=True),
        sa.Column("evaluation_detail", JSONType, nullable=True),
        sa.Column("prompt_version", sa.Integer(), nullable=True),
        sa.Column("prompt_status", sa.String(16), nullable=True),
        sa.Column("provider", sa.String(32), nullable=True),
        sa.Column("model", sa.String(128), nullable=True),
        sa.Column("input_tokens", sa.Integer(), nullable=True),
        sa.Column("output_tokens", sa.Integer(), nullable=True),
        sa.Column("latency_refine_ms", sa.Float(), nullable=True),
        sa.Column("latency_worker_ms", sa.Float(), nullable=True),
        sa.Column("latency_evaluator_ms", sa.Float(), nullable=True),
        sa.Column("latency_total_ms", sa.Float(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_execution_logs")),
        sa.UniqueConstraint("request_id", name=op.f("uq_execution_logs_request_id")),
    )
    op.create_index(
        "ix_execution_logs_failures",
        "execution_logs",
        ["task_type", "created_at"],
        postgresql_where=sa.text("evaluation_passed = false"),
        sqlite_where=sa.text("evaluation_passed = 0"),
    )
    op.create_index(
        "ix_execution_logs_task_type_prompt_version",
        "execution_logs",
        ["task_type", "prompt_version"],
    )
    op.create_index("ix_execution_logs_created_at", "execution_logs", ["created_at"])

    op.create_table(
        "optimization_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(36), nullable=False),
        sa.Column("task_type", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("decision", sa.String(32), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("failure_count", sa.Integer(), nullable=False),
        sa.Column("incumbent_version", sa.Integer(), nullable=True),
        sa.Column("new_version", sa.Integer(), nullable=True),
        sa.Column("analysis", JSONType, nullable=True),
        sa.Column("candidates", JSONType, nullable=True),
        sa.Column("improvement_pct", sa.Float(), nullable=True),
        sa.Column("llm_calls", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_optimization_runs")),
        sa.UniqueConstraint("run_id", name=op.f("uq_optimization_runs_run_id")),
    )
    op.create_index(
        "ix_optimization_runs_task_type_started_at",
        "optimization_runs",
        ["task_type", "started_at"],
    )

    now = datetime.now(UTC)
    op.bulk_insert(
        prompts,
        [
            {
                "task_type": "code_generation",
                "version": 1,
                "content": SEED_PROMPT,
                "status": "active",
                "parent_version": None,
                "author": "seed",
                "reason": "initial seed prompt",
                "canary_share": None,
                "created_at": now,
                "activated_at": now,
                "retired_at": None,
            }
        ],
    )


def downgrade() -> None:
    op.drop_index("ix_optimization_runs_task_type_started_at", table_name="optimization_runs")
    op.drop_table("optimization_runs")
    op.drop_index("ix_execution_logs_created_at", table_name="execution_logs")
    op.drop_index("ix_execution_logs_task_type_prompt_version", table_name="execution_logs")
    op.drop_index("ix_execution_logs_failures", table_name="execution_logs")
    op.drop_table("execution_logs")
    op.drop_index("uq_prompts_one_canary", table_name="prompts")
    op.drop_index("uq_prompts_one_active", table_name="prompts")
    op.drop_table("prompts")
