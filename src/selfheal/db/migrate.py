"""Apply Alembic migrations programmatically (used by `selfheal migrate`, `up` and tests)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from tenacity import retry, retry_if_result, stop_after_delay, wait_exponential

from selfheal.db.session import create_engine, ping

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config(str(MIGRATIONS_DIR / "alembic.ini"))
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision``. Must not run inside an event loop."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


def wait_for_database(url: str, *, timeout_s: float) -> None:
    """Block until the database answers (a container's prestart step), or raise."""

    async def reachable() -> bool:
        engine = create_engine(url)
        try:
            return await ping(engine)
        finally:
            await engine.dispose()

    @retry(
        retry=retry_if_result(lambda ok: not ok),
        stop=stop_after_delay(timeout_s),
        wait=wait_exponential(multiplier=0.2, max=5),
        retry_error_callback=lambda state: False,
    )
    def attempt() -> bool:
        return asyncio.run(reachable())

    if not attempt():
        raise TimeoutError(f"the database did not answer within {timeout_s:g} s")
