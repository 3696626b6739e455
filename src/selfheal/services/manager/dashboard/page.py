"""What one dashboard page shows, gathered from the queries (the route only renders it)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from selfheal.core.errors import NotFoundError
from selfheal.services.manager import prompt_service
from selfheal.services.manager.dashboard import queries, version_stats

PAGE_SIZE = 25


async def gather(
    session: AsyncSession,
    *,
    hours: float,
    runs_offset: int,
    failures_before: int | None,
    requests_before: int | None,
) -> dict[str, Any]:
    """Every section's data: the charts' series and markers, live prompts, histories with
    live stats (incremental), one page each of runs, failures and requests, the status."""
    win = await queries.window(session, hours=hours)
    series = await queries.timeline(session, win=win)
    events = await queries.version_events(session, since=win.start)
    names = sorted(set(await queries.task_types(session)) | set(series))
    cached_stats = version_stats.for_session(session).stats
    histories: dict[str, list[Any]] = {}
    for name in names:
        try:
            histories[name] = await prompt_service.versions(
                session, task_type=name, stats=cached_stats
            )
        except NotFoundError:
            histories[name] = []
    return {
        "names": names,
        "histories": histories,
        "live": await prompt_service.list_live(session),
        "stats": {(h.task_type, h.version): h.stats for rows in histories.values() for h in rows},
        "failures": await queries.requests_page(
            session, failed_only=True, before_id=failures_before, limit=PAGE_SIZE
        ),
        "recent": await queries.requests_page(
            session, failed_only=False, before_id=requests_before, limit=PAGE_SIZE
        ),
        "runs": await queries.runs_page(session, offset=runs_offset, limit=PAGE_SIZE),
        "runs_offset": runs_offset,
        "status": await queries.system_status(session),
        "chart": {
            "bucket_s": win.bucket_s,
            "start": win.start.timestamp(),
            "end": win.end.timestamp(),
            "series": series,
            "events": events,
        },
    }
