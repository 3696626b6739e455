"""Alembic is the only way the schema changes: the models and the migrations must agree."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from selfheal.db import migrate
from selfheal.db.base import Base
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
    assert {"prompts", "execution_logs", "optimization_runs"} <= _tables(db_url)
