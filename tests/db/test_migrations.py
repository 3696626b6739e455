"""Alembic is the only way the schema changes: the models and the migrations must agree."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from selfheal.db import migrate
from selfheal.db.base import Base
from selfheal.db.models import utcnow
from selfheal.db.session import create_engine


def _diff(url: str) -> list[Any]:
    async def go() -> list[Any]:
        engine = create_engine(url)
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata)
            )
        await engine.dispose()
        return list(diff)

    return asyncio.run(go())


def _tables(url: str) -> set[str]:
    async def go() -> set[str]:
        engine = create_engine(url)
        async with engine.connect() as conn:
            names = await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
        await engine.dispose()
        return names

    return asyncio.run(go())


def test_models_match_the_migrations(db_url: str) -> None:
    assert _diff(db_url) == []


def test_downgrade_to_base_and_upgrade_again(db_url: str) -> None:
    migrate.downgrade(db_url, "base")
    assert _tables(db_url) <= {"alembic_version"}
    migrate.upgrade(db_url)
    assert {"prompts", "execution_logs", "optimization_runs", "optimizer_locks"} <= _tables(db_url)


RUN = {"run_id": "r", "task_type": "t", "kind": "optimize", "trigger": "cli", "status": "running"}
LOG = {"request_id": "q", "task_type": "t", "status": "completed"}


@pytest.mark.parametrize(
    ("table", "column", "bad", "good"),
    [
        ("optimization_runs", "kind", "lock", "rollback"),
        ("optimization_runs", "trigger", "cron", "monitor"),
        ("optimization_runs", "status", "skipped", "pending"),  # reports only, never stored
        ("optimization_runs", "decision", "not_due", "canary"),
        ("execution_logs", "status", "done", "cancelled"),
    ],
    ids=["run-kind", "run-trigger", "run-status", "run-decision", "log-status"],
)
async def test_states_outside_their_enum_are_refused_by_the_database(
    engine: AsyncEngine, table: str, column: str, bad: str, good: str
) -> None:
    values: dict[str, object] = {
        "optimization_runs": {**RUN, "failure_count": 0, "llm_calls": 0},
        "execution_logs": {**LOG, "user_input": "x", "evaluation_passed": False},
    }[table]
    values = {**values, "created_at" if table == "execution_logs" else "started_at": utcnow()}
    columns = list({**values, column: None})
    insert = text(f"INSERT INTO {table} ({', '.join(columns)}) VALUES (:{', :'.join(columns)})")
    with pytest.raises(IntegrityError):
        async with engine.begin() as conn:
            await conn.execute(insert, {**values, column: bad})
    async with engine.begin() as conn:  # the same row with a member of the enum is stored
        await conn.execute(insert, {**values, column: good})
