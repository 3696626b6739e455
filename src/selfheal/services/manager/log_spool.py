"""Log rows that could not be written while the database was away, kept on local disk and
written once it is back, so that every request that reached the manager is logged.

A row goes to ``spool-<pid>.jsonl`` in the spool directory (one JSON line, fsynced) when its
INSERT fails. A replay loop in each manager process claims whole files by renaming them
(``claim-<pid>-<n>.jsonl``) and inserts their rows one per transaction; a row whose
request_id is already stored (written before a crash, or before the connection dropped)
is skipped. Rows stay on disk until stored: a claimed file left by a crash is replayed by
the next pass, of this process or another sharing the directory.

Appends and claims take an exclusive ``flock`` on the file; an appender that finds the
name now points at another file (claimed meanwhile) opens the new one, so no row is
written into a file after its replay has read it.
"""

from __future__ import annotations

import asyncio
import fcntl
import itertools
import json
import logging
import os
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError

from selfheal.core import metrics

log = logging.getLogger(__name__)

# Stores one row in its own transaction (raises IntegrityError when it exists already).
Store = Callable[[dict[str, Any]], Awaitable[None]]


def _encode(row: dict[str, Any]) -> str:
    def default(value: object) -> object:
        if isinstance(value, datetime):
            return {"__datetime__": value.isoformat()}
        raise TypeError(f"cannot spool a {type(value).__name__}")

    # ensure_ascii keeps NUL and lone surrogates as escapes: the line is always valid UTF-8.
    return json.dumps(row, default=default, ensure_ascii=True, separators=(",", ":"))


def _decode(line: str) -> dict[str, Any]:
    def hook(obj: dict[str, Any]) -> Any:
        if obj.keys() == {"__datetime__"}:
            return datetime.fromisoformat(obj["__datetime__"])
        return obj

    row = json.loads(line, object_hook=hook)
    if not isinstance(row, dict):
        raise ValueError("a spooled line is not an object")
    return row


class LogSpool:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._claims = itertools.count()

    @property
    def _path(self) -> Path:
        return self.directory / f"spool-{os.getpid()}.jsonl"

    def append(self, row: dict[str, Any]) -> None:
        """Keep one row on disk (durable when this returns); raises OSError if it cannot."""
        self.directory.mkdir(parents=True, exist_ok=True)
        line = (_encode(row) + "\n").encode("ascii")
        while True:
            fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                try:
                    same = os.fstat(fd).st_ino == os.stat(self._path).st_ino
                except FileNotFoundError:
                    same = False
                if same:
                    os.write(fd, line)
                    os.fsync(fd)
                    break
            finally:
                os.close(fd)  # closing releases the lock
        metrics.LOG_ROWS_SPOOLED.inc()

    def pending(self) -> int:
        """Rows on disk not yet stored (all files in the directory)."""
        if not self.directory.is_dir():
            return 0
        return sum(
            sum(1 for line in p.read_bytes().splitlines() if line.strip())
            for p in self.directory.glob("*.jsonl")
        )

    def _claim(self) -> list[Path]:
        """Take every spool file (and claims a crash left) out of the appenders' way."""
        claimed = sorted(self.directory.glob("claim-*.jsonl"))
        for path in sorted(self.directory.glob("spool-*.jsonl")):
            target = self.directory / f"claim-{os.getpid()}-{next(self._claims)}.jsonl"
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                if os.path.exists(path) and os.stat(path).st_ino == os.fstat(fd).st_ino:
                    os.rename(path, target)
                    claimed.append(target)
            finally:
                os.close(fd)
        return claimed

    async def replay(self, store: Store) -> int:
        """Store what is on disk; stops at the first database error (the rest stays).
        Returns the number of rows stored."""
        if not self.directory.is_dir():
            return 0
        stored = 0
        for path in self._claim():
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:  # another process replayed it meanwhile
                continue
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:  # another process is replaying it now
                    continue
                lines = path.read_bytes().decode("ascii", "replace").splitlines()
                for i, line in enumerate(lines):
                    if not line.strip():
                        continue
                    try:
                        row = _decode(line)
                    except ValueError:
                        log.error("dropping an unreadable spooled log line: %.200s", line)
                        continue
                    try:
                        await store(row)
                        stored += 1
                    except IntegrityError:
                        pass  # stored before (a crash between insert and unlink)
                    except DataError as exc:  # this row can never be stored: say so, go on
                        log.error("dropping a spooled log row the database refuses: %s", exc)
                    except (SQLAlchemyError, OSError):
                        # The database is away again: keep what is left for the next pass.
                        path.write_text("\n".join(lines[i:]) + "\n")
                        return stored
                path.unlink(missing_ok=True)
            finally:
                os.close(fd)
        if stored:
            metrics.LOG_ROWS_REPLAYED.inc(stored)
            log.warning("wrote %d spooled log rows to the database", stored)
        return stored

    async def run(self, store: Store, *, interval_s: float) -> None:
        """Replay every ``interval_s`` until cancelled."""
        while True:
            try:
                await self.replay(store)
            except Exception:  # keep the loop alive whatever one pass meets
                log.exception("replaying spooled log rows failed")
            await asyncio.sleep(interval_s)
