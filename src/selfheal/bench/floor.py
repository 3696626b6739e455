"""The floor chain: the machine's limit for selfheal's request shape, measured beside it.

Three bare FastAPI apps in three uvicorn processes, chained like manager -> worker ->
evaluator: ``front`` calls ``middle`` calls ``back``; ``back`` forks one child (what the
evaluator's sandbox costs at the least: a process that exits at once) and ``front``
INSERTs one row into the database (what the manager's log costs at the least), with the
same stack selfheal uses (uvicorn, FastAPI/pydantic, a pooled aiohttp session per hop,
SQLAlchemy Core on asyncpg or aiosqlite). No LLM, no prompt read, no evaluation, no
validation beyond a pydantic body: whatever selfheal spends above this is its own cost.

Run one hop: ``python -m selfheal.bench.floor front --port P --next URL --database-url URL``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel
from sqlalchemy import Column, DateTime, Integer, MetaData, Table, Text, func, insert
from sqlalchemy.ext.asyncio import AsyncEngine

from selfheal.db.session import create_engine

HOPS = ("front", "middle", "back")

_META = MetaData()
FLOOR_LOG = Table(
    "bench_floor_log",
    _META,
    Column("id", Integer, primary_key=True),
    Column("request_id", Text, nullable=False),
    Column("user_input", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), server_default=func.now()),
)


class Body(BaseModel):
    user_input: str
    tests: str | None = None
    entry_point: str | None = None


def _fork_once() -> int:
    pid = os.fork()
    if pid == 0:  # the child: nothing to do
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def create_app(hop: str, *, next_url: str | None, database_url: str | None) -> FastAPI:
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if next_url is not None:
            state["http"] = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=100),
                timeout=aiohttp.ClientTimeout(total=60),
            )
        if database_url is not None:
            engine: AsyncEngine = create_engine(database_url)
            async with engine.begin() as conn:
                await conn.run_sync(_META.create_all)
            state["engine"] = engine
        yield
        if "http" in state:
            await state["http"].close()
        if "engine" in state:
            await state["engine"].dispose()

    app = FastAPI(title=f"floor {hop}", lifespan=lifespan)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/api/v1/request")
    async def handle(body: Body) -> dict[str, Any]:
        out: dict[str, Any] = {"hop": hop}
        if hop == "back":
            out["child_exit"] = await asyncio.get_running_loop().run_in_executor(None, _fork_once)
        if next_url is not None:
            async with state["http"].post(next_url, json=body.model_dump()) as resp:
                resp.raise_for_status()
                out["next"] = await resp.json()
        if "engine" in state:
            request_id = str(uuid.uuid4())
            async with state["engine"].begin() as conn:
                await conn.execute(
                    insert(FLOOR_LOG), {"request_id": request_id, "user_input": body.user_input}
                )
            out["request_id"] = request_id
        return out

    return app


def drop_table(database_url: str) -> None:
    """Remove the floor's table from the benchmark database."""

    async def drop() -> None:
        engine = create_engine(database_url)
        async with engine.begin() as conn:
            await conn.run_sync(_META.drop_all)
        await engine.dispose()

    asyncio.run(drop())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("hop", choices=HOPS)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--next", dest="next_url")
    parser.add_argument("--database-url")
    args = parser.parse_args()
    app = create_app(args.hop, next_url=args.next_url, database_url=args.database_url)
    uvicorn.run(app, host="127.0.0.1", port=args.port, access_log=False, log_level="warning")


if __name__ == "__main__":
    main()
