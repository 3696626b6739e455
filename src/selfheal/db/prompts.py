"""Prompt versions: read the live ones, add versions, activate, retire, roll back."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import NamedTuple

from sqlalchemy import bindparam, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from selfheal.core.errors import ConflictError, NotFoundError
from selfheal.db.models import Prompt, PromptStatus, utcnow
from selfheal.db.session import advisory_key

LIVE_STATUSES = (PromptStatus.ACTIVE.value, PromptStatus.CANARY.value)


async def lock_writes(session: AsyncSession, *, task_type: str) -> None:
    """Serialize the prompt changes of a task type until the caller's transaction ends, so
    that "read the live/latest version, then write" is atomic (two admins adding versions,
    a rollback racing a promotion). Call it before those reads.

    PostgreSQL: a transaction-scoped advisory lock (re-entrant in one transaction). SQLite:
    a write that changes nothing takes the database's write lock (other writers wait on the
    busy timeout); what the transaction reads after it is the latest committed state."""
    if session.get_bind().dialect.name == "sqlite":
        await session.execute(text("UPDATE prompts SET id = id WHERE 0"))
    else:
        await session.execute(
            text("SELECT pg_advisory_xact_lock(:key)"),
            {"key": advisory_key(b"selfheal-prompts", task_type)},
        )


async def get_live(session: AsyncSession, *, task_type: str) -> tuple[Prompt | None, Prompt | None]:
    """The active prompt and the canary (if any) of a task type, in one query."""
    rows = (
        await session.scalars(
            select(Prompt).where(Prompt.task_type == task_type, Prompt.status.in_(LIVE_STATUSES))
        )
    ).all()
    active = next((p for p in rows if p.status == PromptStatus.ACTIVE), None)
    canary = next((p for p in rows if p.status == PromptStatus.CANARY), None)
    return active, canary


_T = Prompt.__table__.c
_LIVE_ROWS = select(_T.version, _T.status, _T.content, _T.canary_share).where(
    _T.task_type == bindparam("task_type"), _T.status.in_(LIVE_STATUSES)
)


class LivePrompt(NamedTuple):
    version: int
    status: str
    content: str
    canary_share: float | None


async def live_rows(
    session: AsyncSession, *, task_type: str
) -> tuple[LivePrompt | None, LivePrompt | None]:
    """``get_live`` as plain rows: the worker runs this on every request, so it is one
    cached Core statement on the session's connection, with no ORM objects."""
    conn = await session.connection()
    rows = (await conn.execute(_LIVE_ROWS, {"task_type": task_type})).all()
    live = [LivePrompt(*row) for row in rows]
    active = next((p for p in live if p.status == PromptStatus.ACTIVE), None)
    canary = next((p for p in live if p.status == PromptStatus.CANARY), None)
    return active, canary


async def get_active(session: AsyncSession, *, task_type: str) -> Prompt | None:
    return await session.scalar(
        select(Prompt).where(Prompt.task_type == task_type, Prompt.status == PromptStatus.ACTIVE)
    )


async def get_version(session: AsyncSession, *, task_type: str, version: int) -> Prompt | None:
    return await session.scalar(
        select(Prompt).where(Prompt.task_type == task_type, Prompt.version == version)
    )


async def list_active(session: AsyncSession) -> Sequence[Prompt]:
    return (
        await session.scalars(
            select(Prompt).where(Prompt.status.in_(LIVE_STATUSES)).order_by(Prompt.task_type)
        )
    ).all()


async def list_versions(session: AsyncSession, *, task_type: str) -> Sequence[Prompt]:
    return (
        await session.scalars(
            select(Prompt).where(Prompt.task_type == task_type).order_by(Prompt.version.desc())
        )
    ).all()


async def create_version(
    session: AsyncSession,
    *,
    task_type: str,
    content: str,
    author: str,
    reason: str,
    parent_version: int | None,
    status: str = PromptStatus.CANDIDATE.value,
) -> Prompt:
    """Add the next version number of a task type (flushes; the caller commits)."""
    await lock_writes(session, task_type=task_type)
    latest = await session.scalar(
        select(func.max(Prompt.version)).where(Prompt.task_type == task_type)
    )
    prompt = Prompt(
        task_type=task_type,
        version=(latest or 0) + 1,
        content=content,
        status=status,
        parent_version=parent_version,
        author=author,
        reason=reason,
        activated_at=utcnow() if status == PromptStatus.ACTIVE else None,
    )
    session.add(prompt)
    await session.flush()
    return prompt


async def activate(session: AsyncSession, *, task_type: str, version: int) -> Prompt:
    """Make ``version`` the active prompt; the previous active one and any canary are retired."""
    await lock_writes(session, task_type=task_type)
    target = await get_version(session, task_type=task_type, version=version)
    if target is None:
        raise NotFoundError(f"task type {task_type!r} has no prompt version {version}")
    now = utcnow()
    await session.execute(
        update(Prompt)
        .where(
            Prompt.task_type == task_type,
            Prompt.status.in_(LIVE_STATUSES),
            Prompt.version != version,
        )
        .values(status=PromptStatus.RETIRED.value, retired_at=now, canary_share=None)
    )
    target.status = PromptStatus.ACTIVE.value
    target.activated_at = now
    target.retired_at = None
    target.canary_share = None
    await session.flush()
    return target


async def start_canary(
    session: AsyncSession, *, task_type: str, version: int, share: float
) -> Prompt:
    """Serve ``version`` to ``share`` of live traffic beside the active prompt."""
    await lock_writes(session, task_type=task_type)
    target = await get_version(session, task_type=task_type, version=version)
    if target is None:
        raise NotFoundError(f"task type {task_type!r} has no prompt version {version}")
    _, canary = await get_live(session, task_type=task_type)
    if canary is not None and canary.version != version:
        raise ConflictError(f"version {canary.version} is already in canary for {task_type!r}")
    target.status = PromptStatus.CANARY.value
    target.canary_share = share
    target.activated_at = utcnow()
    await session.flush()
    return target


async def set_status(session: AsyncSession, *, prompt: Prompt, status: PromptStatus) -> None:
    prompt.status = status.value
    if status in (PromptStatus.RETIRED, PromptStatus.REJECTED):
        prompt.retired_at = utcnow()
        prompt.canary_share = None
    await session.flush()


async def previous_active_version(
    session: AsyncSession, *, task_type: str, current: Prompt
) -> int | None:
    """The version that was live before ``current``: its parent if it was ever live, else the
    most recently retired version that had been activated."""
    if current.parent_version is not None:
        parent = await get_version(session, task_type=task_type, version=current.parent_version)
        if parent is not None and parent.activated_at is not None:
            return parent.version
    return await session.scalar(
        select(Prompt.version)
        .where(
            Prompt.task_type == task_type,
            Prompt.version != current.version,
            Prompt.activated_at.is_not(None),
            Prompt.status == PromptStatus.RETIRED,
        )
        .order_by(Prompt.activated_at.desc())
        .limit(1)
    )


async def diff(
    session: AsyncSession, *, task_type: str, version: int | None = None, against: int | None = None
) -> str:
    """A unified diff of ``version`` (default: the active one) against ``against`` (default:
    its parent); raises ``NotFoundError`` for a version that does not exist."""
    target = (
        await get_version(session, task_type=task_type, version=version)
        if version
        else await get_active(session, task_type=task_type)
    )
    if target is None:
        raise NotFoundError(f"no such prompt version for {task_type!r}: {version or 'active'}")
    base_version = against or target.parent_version
    base = (
        await get_version(session, task_type=task_type, version=base_version)
        if base_version
        else None
    )
    if against and base is None:
        raise NotFoundError(f"no such prompt version for {task_type!r}: {against}")
    lines = difflib.unified_diff(
        (base.content if base else "").splitlines(keepends=True),
        target.content.splitlines(keepends=True),
        fromfile=f"{task_type} v{base.version}" if base else "(none)",
        tofile=f"{task_type} v{target.version}",
    )
    return "".join(lines) or "(no differences)\n"
