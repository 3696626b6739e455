"""How fast the dashboard stays with a million execution logs (`selfheal bench dashboard`).

Fills a fresh database (PostgreSQL and/or SQLite) with N synthetic execution logs spread
over 30 days — three task types, ten prompt versions each, a failure every third request,
a few hundred optimizer runs — in SQL (generate_series / a recursive CTE), then times each
of the page's queries (median of repeats) and the whole page over ASGI. The rows are
synthetic: this measures the database work, not the model.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncSession

from selfheal.db import migrate
from selfheal.db.models import OptimizationRun, Prompt, utcnow
from selfheal.db.session import create_engine, create_sessionmaker
from selfheal.services.manager import prompt_service
from selfheal.services.manager.dashboard import queries, version_stats
from selfheal.services.manager.dashboard.page import PAGE_SIZE

TASK_TYPES = ("code_generation", "code_review", "sql_generation")
VERSIONS = 10
DAYS = 30
CHUNK = 50_000

Progress = Callable[[str, int, int], None]

_COLUMNS = (
    "request_id, task_type, status, user_input, worker_output, code, evaluation_score, "
    "evaluation_passed, failure_category, evaluation_detail, prompt_version, prompt_status, "
    "provider, model, input_tokens, output_tokens, latency_refine_ms, latency_worker_ms, "
    "latency_evaluator_ms, latency_total_ms, created_at"
)
# One row per g: task type g % 3, score (g % 100) / 100 (passes from 0.3 up, so ~30% fail
# across four categories), prompt version rising with time, one rejected request in 200.
_PG_FILL = f"""
INSERT INTO execution_logs ({_COLUMNS})
SELECT
  lpad(g::text, 8, '0') || '-0000-4000-8000-' || lpad(g::text, 12, '0'),
  (ARRAY['code_generation','code_review','sql_generation'])[1 + g % 3],
  CASE WHEN g % 200 = 0 THEN 'rejected' ELSE 'completed' END,
  'Write a function number ' || g || ' that sorts a list of integers and removes duplicates, keeping the first occurrence.',
  E'```python\\ndef solve(xs: list[int]) -> list[int]:\\n    seen = set()\\n    return [x for x in xs if not (x in seen or seen.add(x))]\\n```',
  E'def solve(xs: list[int]) -> list[int]:\\n    seen = set()\\n    return [x for x in xs if not (x in seen or seen.add(x))]\\n',
  (g % 100) / 100.0,
  (g % 100) >= 30,
  CASE WHEN (g % 100) >= 30 THEN NULL
       ELSE (ARRAY['no_code','syntax_error','test_failure','low_quality'])[1 + g % 4] END,
  CAST('{{"tests_origin": "provided", "gates": [], "rule_score": 0.5, "llm_score": 0.6}}' AS jsonb),
  1 + (g::bigint * {VERSIONS}) / (:n + 1),
  'active', 'offline', 'offline-sim-1', 100 + g % 50, 30 + g % 40, 5.0, 10.0, 20.0, 35.0,
  to_timestamp(CAST(:end_s AS double precision) - (:n - g) * CAST(:step_s AS double precision))
FROM generate_series(CAST(:a AS integer), CAST(:b AS integer)) AS g
"""
_SQLITE_FILL = f"""
WITH RECURSIVE s(g) AS (SELECT :a UNION ALL SELECT g + 1 FROM s WHERE g < :b)
INSERT INTO execution_logs ({_COLUMNS})
SELECT
  printf('%08d-0000-4000-8000-%012d', g, g),
  CASE g % 3 WHEN 0 THEN 'code_generation' WHEN 1 THEN 'code_review' ELSE 'sql_generation' END,
  CASE WHEN g % 200 = 0 THEN 'rejected' ELSE 'completed' END,
  'Write a function number ' || g || ' that sorts a list of integers and removes duplicates, keeping the first occurrence.',
  '```python' || char(10) || 'def solve(xs: list[int]) -> list[int]:' || char(10) || '    seen = set()' || char(10) || '    return [x for x in xs if not (x in seen or seen.add(x))]' || char(10) || '```',
  'def solve(xs: list[int]) -> list[int]:' || char(10) || '    seen = set()' || char(10) || '    return [x for x in xs if not (x in seen or seen.add(x))]' || char(10),
  (g % 100) / 100.0,
  (g % 100) >= 30,
  CASE WHEN (g % 100) >= 30 THEN NULL
       ELSE CASE g % 4 WHEN 0 THEN 'no_code' WHEN 1 THEN 'syntax_error' WHEN 2 THEN 'test_failure' ELSE 'low_quality' END END,
  '{{"tests_origin": "provided", "gates": [], "rule_score": 0.5, "llm_score": 0.6}}',
  1 + (g * {VERSIONS}) / (:n + 1),
  'active', 'offline', 'offline-sim-1', 100 + g % 50, 30 + g % 40, 5.0, 10.0, 20.0, 35.0,
  strftime('%Y-%m-%d %H:%M:%S', :end_s - (:n - g) * :step_s, 'unixepoch') || '.000000'
FROM s
"""


async def fill(url: str, *, rows: int, progress: Progress | None = None) -> float:
    """Write ``rows`` logs plus prompts and runs into a migrated database; returns seconds."""
    engine = create_engine(url)
    maker = create_sessionmaker(engine)
    sqlite = url.startswith("sqlite")
    end = utcnow()
    step = DAYS * 86400 / rows
    started = time.perf_counter()
    try:
        async with maker() as session:
            await _prompts_and_runs(session, end=end)
        for a in range(1, rows + 1, CHUNK):
            b = min(rows, a + CHUNK - 1)
            async with engine.begin() as conn:
                await conn.execute(
                    text(_SQLITE_FILL if sqlite else _PG_FILL),
                    {"a": a, "b": b, "n": rows, "end_s": end.timestamp(), "step_s": step},
                )
            if progress:
                progress("fill", b, rows)
        if sqlite:
            async with engine.begin() as conn:
                await conn.execute(text("ANALYZE"))
        else:
            await _vacuum_analyze(url)
    finally:
        await engine.dispose()
    return time.perf_counter() - started


async def _vacuum_analyze(url: str) -> None:
    """VACUUM ANALYZE (outside a transaction): statistics, and the visibility map that lets
    PostgreSQL answer from an index alone, as autovacuum would after a bulk load."""
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()


async def _prompts_and_runs(session: AsyncSession, *, end: Any) -> None:
    start = end - timedelta(days=DAYS)
    await session.execute(update(Prompt).values(status="retired"))
    for task_type in TASK_TYPES:
        for version in range(1, VERSIONS + 1):
            if task_type == "code_generation" and version == 1:
                continue  # the migration's seed
            at = start + timedelta(days=DAYS * (version - 1) / VERSIONS)
            session.add(
                Prompt(
                    task_type=task_type,
                    version=version,
                    content=f"You are version {version}.\nReply with code in one fenced block.\n"
                    * 5,
                    status="active" if version == VERSIONS else "retired",
                    parent_version=version - 1 if version > 1 else None,
                    author="optimizer" if version % 3 else "human",
                    reason=f"benchmark version {version}",
                    created_at=at,
                    activated_at=at,
                )
            )
    await session.flush()
    for i in range(300):
        at = start + timedelta(days=DAYS * i / 300)
        session.add(
            OptimizationRun(
                run_id=str(uuid.uuid4()),
                task_type=TASK_TYPES[i % 3],
                kind="optimize",
                trigger="watcher",
                status="promoted" if i % 3 == 0 else "rejected",
                decision="promoted" if i % 3 == 0 else "rejected",
                decision_reason="benchmark",
                failure_count=5,
                incumbent_version=1 + i * VERSIONS // 300,
                new_version=1 + i * VERSIONS // 300 if i % 3 == 0 else None,
                analysis={"summary": "benchmark", "categories": {"test_failure": 5}},
                candidates=[
                    {
                        "label": f"c{k}",
                        "round": 1,
                        "prompt": "x" * 400,
                        "pass_rate": 0.5,
                        "mean_score": 0.6,
                        "scores": {str(j): {"score": 0.5} for j in range(8)},
                    }
                    for k in range(3)
                ],
                llm_calls=12,
                started_at=at,
                finished_at=at + timedelta(seconds=30),
            )
        )
    await session.commit()


async def _timed(fn: Callable[[], Awaitable[Any]], repeats: int) -> dict[str, float]:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        await fn()
        times.append((time.perf_counter() - t) * 1000)
    return {"median_ms": round(statistics.median(times), 2), "max_ms": round(max(times), 2)}


async def time_queries(url: str, *, repeats: int, hours: float) -> dict[str, dict[str, float]]:
    """Each query of the page, as the page runs it, on a warm connection."""
    engine = create_engine(url)
    maker = create_sessionmaker(engine)
    out: dict[str, dict[str, float]] = {}
    try:
        async with maker() as s:
            win = await queries.window(s, hours=hours)
            deep = await queries.requests_page(s, failed_only=True, before_id=None, limit=1)
            deep_id = int(deep[0]["id"]) // 2 if deep else None
            cache = version_stats.VersionStatsCache()
            cases: dict[str, Callable[[], Awaitable[Any]]] = {
                "window": lambda: queries.window(s, hours=hours),
                "timeline": lambda: queries.timeline(s, win=win),
                "version_events": lambda: queries.version_events(s, since=win.start),
                "task_types": lambda: queries.task_types(s),
                "prompt_history_full_aggregate (API, per task type)": lambda: (
                    prompt_service.versions(s, task_type="code_generation")
                ),
                "prompt_history_incremental (dashboard, per task type)": lambda: (
                    prompt_service.versions(s, task_type="code_generation", stats=cache.stats)
                ),
                "live_prompts": lambda: prompt_service.list_live(s),
                "failures_page_1": lambda: queries.requests_page(
                    s, failed_only=True, before_id=None, limit=PAGE_SIZE
                ),
                "failures_page_deep (middle of the table)": lambda: queries.requests_page(
                    s, failed_only=True, before_id=deep_id, limit=PAGE_SIZE
                ),
                "requests_page_1": lambda: queries.requests_page(
                    s, failed_only=False, before_id=None, limit=PAGE_SIZE
                ),
                "runs_page_1": lambda: queries.runs_page(s, offset=0, limit=PAGE_SIZE),
                "system_status": lambda: queries.system_status(s),
            }
            for name, fn in cases.items():
                await fn()  # warm the statement cache and the pages
                out[name] = await _timed(fn, repeats)
    finally:
        await engine.dispose()
    return out


async def time_page(url: str, *, repeats: int, hours: float) -> dict[str, Any]:
    """GET /dashboard through the manager app in process (every query plus the rendering)."""
    from selfheal.core.config import get_settings
    from selfheal.services.manager.app import create_app

    app = create_app(get_settings().with_changes(db={"url": url}, llm={"provider": "offline"}))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://bench"
        ) as client,
    ):
        path = f"/dashboard?hours={hours}"
        first = await client.get(path)
        first.raise_for_status()
        timing = await _timed(lambda: client.get(path), repeats)
        return {**timing, "html_kb": round(len(first.content) / 1024, 1)}


async def _pg_database(server_url: str) -> tuple[str, Callable[[], Awaitable[None]]]:
    """A fresh database on the PostgreSQL server of ``server_url``, and its dropper."""
    name = f"selfheal_bench_dash_{uuid.uuid4().hex[:8]}"
    base = server_url.rsplit("/", 1)[0]
    dsn = server_url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()

    async def drop() -> None:
        c = await asyncpg.connect(dsn)
        try:
            await c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await c.close()

    return f"{base}/{name}", drop


async def run_backend(
    backend: str,
    *,
    rows: int,
    repeats: int,
    hours: list[float],
    pg_server: str,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Migrate, fill and time one backend; the database is thrown away afterwards."""
    drop: Callable[[], Awaitable[None]] | None = None
    tmp = None
    if backend == "postgresql":
        url, drop = await _pg_database(pg_server)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="selfheal-bench-dash-")
        url = f"sqlite+aiosqlite:///{Path(tmp.name) / 'selfheal.db'}"
    try:
        await asyncio.to_thread(migrate.upgrade, url)
        fill_s = await fill(url, rows=rows, progress=progress)
        result: dict[str, Any] = {"backend": backend, "rows": rows, "fill_s": round(fill_s, 1)}
        result["windows"] = {}
        for h in hours:
            if progress:
                progress(f"time {h:g} h", 0, 1)
            result["windows"][f"{h:g}h"] = {
                "queries": await time_queries(url, repeats=repeats, hours=h),
                "page": await time_page(url, repeats=repeats, hours=h),
            }
        return result
    finally:
        if drop is not None:
            await drop()
        if tmp is not None:
            with contextlib.suppress(OSError):
                tmp.cleanup()
