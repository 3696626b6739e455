"""Run and log states are closed sets the database holds (CHECK constraints), and the
SQLite optimizer lock moves out of the audit table into its own (``optimizer_locks``).

Rows written before this revision carry only values the code wrote; the lock rows it used
to keep in ``optimization_runs`` (kind ``lock``) are leases, not history, and are dropped.

Revision ID: 0003_run_states
Revises: 0002_dashboard_indexes
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_run_states"
down_revision = "0002_dashboard_indexes"
branch_labels = None
depends_on = None

# The values as of this revision (a later one that adds a value replaces its constraint).
LOG_STATUS = [
    "completed",
    "rejected",
    "invalid_task_type",
    "worker_unavailable",
    "evaluator_unavailable",
    "database_unavailable",
    "cancelled",
    "error",
]
RUN_KIND = ["optimize", "rollback", "canary"]
RUN_TRIGGER = ["watcher", "api", "cli", "monitor", "manual"]
RUN_STATUS = ["running", "promoted", "rejected", "failed", "pending", "rolled_back"]
RUN_DECISION = [
    "promoted",
    "canary",
    "rejected",
    "rejected_by_admin",
    "awaiting_approval",
    "no_replay_set",
    "no_candidate",
    "error",
    "rollback",
    "canary_promoted",
    "canary_rejected",
]


def _rule(column: str, values: list[str], *, nullable: bool = False) -> str:
    allowed = ", ".join(f"'{v}'" for v in values)
    rule = f'"{column}" IN ({allowed})'
    return f'"{column}" IS NULL OR {rule}' if nullable else rule


RUN_CHECKS = [
    ("kind", _rule("kind", RUN_KIND)),
    ("trigger", _rule("trigger", RUN_TRIGGER)),
    ("status", _rule("status", RUN_STATUS)),
    ("decision", _rule("decision", RUN_DECISION, nullable=True)),
]


def upgrade() -> None:
    op.create_table(
        "optimizer_locks",
        sa.Column("task_type", sa.String(64), nullable=False),
        sa.Column("holder", sa.String(36), nullable=False),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("task_type", name=op.f("pk_optimizer_locks")),
    )
    op.execute("DELETE FROM optimization_runs WHERE kind = 'lock'")
    with op.batch_alter_table("optimization_runs") as batch:
        for name, rule in RUN_CHECKS:
            batch.create_check_constraint(name, rule)
    with op.batch_alter_table("execution_logs") as batch:
        batch.create_check_constraint("status", _rule("status", LOG_STATUS))


def downgrade() -> None:
    with op.batch_alter_table("execution_logs") as batch:
        batch.drop_constraint("status", type_="check")
    with op.batch_alter_table("optimization_runs") as batch:
        for name, _ in reversed(RUN_CHECKS):
            batch.drop_constraint(name, type_="check")
    op.drop_table("optimizer_locks")
