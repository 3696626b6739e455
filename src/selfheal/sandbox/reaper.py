"""Reaping orphans of one-process-per-job backends.

bubblewrap's intermediate process outlives the job and is reparented to the nearest
subreaper — PID 1 when there is none. Many PID 1s never reap (this machine's, a container
whose PID 1 is the service), so zombies of the sandbox uid pile up until RLIMIT_NPROC
refuses new jobs. The service therefore makes itself a child subreaper and reaps the
zombies it adopts. It only ever waits for pids it did not spawn itself, so the event
loop's own child watcher keeps the exit status of every job it started.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Iterable
from pathlib import Path

PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    libc = ctypes.CDLL(None, use_errno=True)
    return bool(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)


def _children() -> set[int]:
    pids: set[int] = set()
    for task in Path("/proc/self/task").iterdir():
        try:
            pids.update(int(p) for p in (task / "children").read_text().split())
        except OSError:
            continue
    return pids


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def reap_orphans(managed: Iterable[int]) -> int:
    """Wait for adopted zombie children (never for a pid in ``managed``); how many were reaped."""
    keep = set(managed)
    reaped = 0
    for pid in _children() - keep:
        if _is_zombie(pid):
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                continue
            reaped += done == pid
    return reaped
