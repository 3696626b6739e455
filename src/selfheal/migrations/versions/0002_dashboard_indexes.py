"""Covering indexes for the dashboard: live stats per prompt version and the charts' time
window are answered from an index alone (`selfheal bench dashboard` measures them with a
million execution logs). Each replaces the index that was its prefix.

Revision ID: 0002_dashboard_indexes
Revises: 0001_initial
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0002_dashboard_indexes"
down_revision = "0001_initial"
branch_labels = None
depends_on = None

VERSION_STATS = [
    "task_type",
    "prompt_version",
    "status",
    "evaluation_passed",
    "evaluation_score",
    "id",
]
TIMELINE = ["created_at", "task_type", "status", "evaluation_passed", "evaluation_score"]


def upgrade() -> None:
    op.create_index("ix_execution_logs_version_stats", "execution_logs", VERSION_STATS)
    op.create_index("ix_execution_logs_timeline", "execution_logs", TIMELINE)
    op.drop_index("ix_execution_logs_task_type_prompt_version", table_name="execution_logs")
    op.drop_index("ix_execution_logs_created_at", table_name="execution_logs")


def downgrade() -> None:
    op.create_index("ix_execution_logs_created_at", "execution_logs", ["created_at"])
    op.create_index(
        "ix_execution_logs_task_type_prompt_version",
        "execution_logs",
        ["task_type", "prompt_version"],
    )
    op.drop_index("ix_execution_logs_timeline", table_name="execution_logs")
    op.drop_index("ix_execution_logs_version_stats", table_name="execution_logs")
