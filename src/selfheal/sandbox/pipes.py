"""Plumbing shared by the backends: capped non-blocking pipe readers, a job writer, the
bubblewrap probe and the mapping from how a job ended to a sandbox violation."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import shutil
import signal
import subprocess
from collections.abc import Callable
from typing import Any

from selfheal.core.config import SandboxSettings
from selfheal.sandbox.limits import sandbox_identity

_READS_PER_WAKEUP = 16


class Collector:
    """Reads a pipe to EOF on the event loop, keeping ``cap`` bytes; calls ``on_flood``
    once when more than ``kill_at`` bytes arrived."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        fd: int,
        cap: int,
        kill_at: int,
        on_flood: Callable[[], None],
    ) -> None:
        self.loop, self.fd, self.cap, self.kill_at = loop, fd, cap, kill_at
        self.on_flood = on_flood
        self.buffer = bytearray()
        self.total = 0
        self.truncated = False
        self.flooded = False
        self.done: asyncio.Future[None] = loop.create_future()
        os.set_blocking(fd, False)
        loop.add_reader(fd, self._readable)

    @property
    def data(self) -> bytes:
        return bytes(self.buffer)

    def _readable(self) -> None:
        for _ in range(_READS_PER_WAKEUP):
            try:
                chunk = os.read(self.fd, 65536)
            except BlockingIOError:
                return
            except OSError:
                chunk = b""
            if not chunk:
                self.close()
                return
            self.total += len(chunk)
            room = self.cap - len(self.buffer)
            if room > 0:
                self.buffer += chunk[:room]
            if len(chunk) > room:
                self.truncated = True
            if self.total > self.kill_at and not self.flooded:
                self.flooded = True
                self.on_flood()

    def close(self) -> None:
        if self.done.done():
            return
        self.loop.remove_reader(self.fd)
        os.close(self.fd)
        self.done.set_result(None)


async def feed(loop: asyncio.AbstractEventLoop, fd: int, payload: bytes) -> None:
    """Write ``payload`` to a pipe without blocking the loop; close it after (or on EPIPE)."""
    os.set_blocking(fd, False)
    view = memoryview(payload)
    try:
        while view:
            try:
                view = view[os.write(fd, view) :]
            except BlockingIOError:
                writable: asyncio.Future[None] = loop.create_future()
                loop.add_writer(fd, writable.set_result, None)
                try:
                    await writable
                finally:
                    loop.remove_writer(fd)
            except (BrokenPipeError, ConnectionResetError):
                return
    finally:
        os.close(fd)


def violation(returncode: int | None, timed_out: bool) -> str | None:
    """Name the limit a job ran into, from how it ended."""
    if timed_out:
        return "timeout"
    if returncode is None or returncode >= 0:
        return None
    sig = -returncode
    if sig == signal.SIGXCPU:
        return "cpu_limit"
    if sig == signal.SIGXFSZ:
        return "file_size_limit"
    if sig in (signal.SIGKILL, signal.SIGSEGV):
        return "killed"
    return f"signal_{sig}"


# Every bubblewrap sandbox: all namespaces new, read-only /usr, fresh /proc, /dev and /tmp.
BWRAP_BASE = [
    "--unshare-all",
    "--die-with-parent",
    "--new-session",
    "--clearenv",
    "--ro-bind",
    "/usr",
    "/usr",
    "--symlink",
    "usr/lib",
    "/lib",
    "--symlink",
    "usr/lib64",
    "/lib64",
    "--symlink",
    "usr/bin",
    "/bin",
    "--proc",
    "/proc",
    "--dev",
    "/dev",
    "--tmpfs",
    "/tmp",
]


def probe_bwrap(settings: SandboxSettings, *, cap_sys_admin: bool) -> tuple[bool, str]:
    """Whether bubblewrap can start a sandbox here, as the user jobs will run as."""
    found = shutil.which(settings.bwrap)
    if found is None:
        return False, f"bubblewrap is not installed (SANDBOX_BWRAP={settings.bwrap} not found)"
    return _probe(found, settings.python, sandbox_identity(settings), cap_sys_admin)


@functools.lru_cache(maxsize=8)
def _probe(
    bwrap: str, python: str, identity: tuple[int, int] | None, cap_sys_admin: bool
) -> tuple[bool, str]:
    command = [bwrap, *BWRAP_BASE]
    if cap_sys_admin:
        command += ["--cap-add", "CAP_SYS_ADMIN", "--cap-add", "CAP_SETPCAP"]
    # What the zygote needs: the per-job namespaces (as its children will be made).
    probe = (
        "import ctypes;u=ctypes.CDLL(None,use_errno=True).unshare;"
        "import sys;sys.exit(0 if u(0x28020000)==0 else 3)"
        if cap_sys_admin
        else "pass"
    )
    command += [python, "-I", "-S", "-c", probe]
    kwargs: dict[str, Any] = {}
    if identity is not None:
        kwargs = {"user": identity[0], "group": identity[1], "extra_groups": []}
    try:
        done = subprocess.run(
            command, env={}, capture_output=True, timeout=30, check=False, **kwargs
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return False, f"bwrap could not run: {exc}"
    if done.returncode != 0:
        detail = done.stderr.decode(errors="replace").strip()[:300]
        return False, f"bwrap failed (exit {done.returncode}): {detail}"
    return True, ""


def close_quietly(*fds: int) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)
