"""The ``zygote`` backend: warm, clean Python zygotes inside bubblewrap, one fork per job.

Each zygote is ``/usr/bin/python3 -I -S zygote_main.py`` started by ``bwrap --unshare-all
--clearenv`` under an unprivileged uid: it never holds a secret of the service, so the
memory a forked job inherits is clean. A job child is PID 1 of its own PID namespace
(everything it starts dies with it) with a private tmpfs working directory, no
capabilities and the configured rlimits. The pool holds one zygote per core; a job
costs a fork (milliseconds) instead of an interpreter start.

The service hands each job its own pipes (job in, stdout, stderr, report) over a
SOCK_SEQPACKET control socket (SCM_RIGHTS), so job data never passes through the
zygote and the report stays on a channel separate from the program's output.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any, ClassVar

from selfheal.core.config import SandboxSettings
from selfheal.core.errors import SandboxError
from selfheal.sandbox.base import ExecResult, Isolation, Sandbox
from selfheal.sandbox.limits import drop_privileges, rlimit_table, sandbox_identity
from selfheal.sandbox.pipes import Collector, feed, probe_bwrap, violation
from selfheal.sandbox.process import HARNESS

ZYGOTE_MAIN = Path(__file__).with_name("zygote_main.py")
MAX_REPORT_BYTES = 16 * 1024 * 1024
START_TIMEOUT_S = 20.0
GRACE_S = 5.0  # the zygote enforces the timeout; the service waits this much longer


def bwrap_zygote_command(
    bwrap: str, python: str, control_fd: int, data_fds: tuple[int, int]
) -> list[str]:
    harness_fd, zygote_fd = data_fds
    return [
        bwrap,
        "--unshare-all",
        "--die-with-parent",
        "--new-session",
        "--clearenv",
        "--cap-add", "CAP_SYS_ADMIN",  # inside its own user namespace only: per-job namespaces
        "--ro-bind", "/usr", "/usr",
        "--symlink", "usr/lib", "/lib",
        "--symlink", "usr/lib64", "/lib64",
        "--symlink", "usr/bin", "/bin",
        "--proc", "/proc",
        "--dev", "/dev",
        "--tmpfs", "/tmp",
        "--ro-bind-data", str(harness_fd), "/harness.py",
        "--ro-bind-data", str(zygote_fd), "/zygote.py",
        "--remount-ro", "/dev",
        "--remount-ro", "/",
        "--chdir", "/tmp",
        python, "-I", "-S", "/zygote.py", str(control_fd),
    ]  # fmt: skip


def _data_pipe(data: bytes) -> int:
    """A pipe already holding ``data`` (bwrap's --ro-bind-data reads it)."""
    read_fd, write_fd = os.pipe()
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(write_fd, view) :]
    finally:
        os.close(write_fd)
    return read_fd


class ZygoteGone(SandboxError):
    """The zygote died before it took the job (the job never started: safe to retry)."""


class Zygote:
    """One warm zygote process and its control socket."""

    def __init__(self, settings: SandboxSettings, index: int) -> None:
        self.settings = settings
        self.index = index
        self.proc: asyncio.subprocess.Process | None = None
        self.sock: socket.socket | None = None
        self.alive = False

    async def start(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        data_fds = (_data_pipe(HARNESS.read_bytes()), _data_pipe(ZYGOTE_MAIN.read_bytes()))
        identity = sandbox_identity(self.settings)
        try:
            command = bwrap_zygote_command(
                shutil.which("bwrap") or "bwrap", self.settings.python, theirs.fileno(), data_fds
            )
            self.proc = await asyncio.create_subprocess_exec(
                *command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                env={},
                pass_fds=(theirs.fileno(), *data_fds),
                start_new_session=True,
                # uvloop has no user=/group=: drop privileges in the child before exec
                preexec_fn=functools.partial(drop_privileges, identity),
            )
        finally:
            theirs.close()
            for fd in data_fds:
                os.close(fd)
        ours.setblocking(False)
        self.sock = ours
        loop = asyncio.get_running_loop()
        try:
            hello = await asyncio.wait_for(loop.sock_recv(ours, 4096), START_TIMEOUT_S)
        except TimeoutError:
            hello = b""
        if not hello or not json.loads(hello).get("ready"):
            stderr = b""
            await self.kill()
            if self.proc.stderr is not None:
                stderr = await self.proc.stderr.read(4000)
            raise SandboxError(
                f"zygote {self.index} did not start: {stderr.decode(errors='replace')}"
            )
        self.alive = True

    async def kill(self) -> None:
        self.alive = False
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, 9)
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            await self.proc.wait()

    async def run(self, job: dict[str, Any]) -> ExecResult:
        assert self.sock is not None
        start = time.perf_counter()
        settings = self.settings
        loop = asyncio.get_running_loop()
        sock = self.sock
        job_r, job_w = os.pipe()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        rep_r, rep_w = os.pipe()
        header = {
            "limits": rlimit_table(settings),
            "timeout_s": settings.timeout_s,
            "tmp_mb": settings.tmp_mb,
        }
        try:
            socket.send_fds(sock, [json.dumps(header).encode()], [job_r, out_w, err_w, rep_w])
        except OSError as exc:
            for fd in (job_w, out_r, err_r, rep_r):
                os.close(fd)
            await self.kill()
            raise ZygoteGone(f"zygote {self.index} is gone: {exc}") from exc
        finally:
            for fd in (job_r, out_w, err_w, rep_w):
                os.close(fd)

        def flood() -> None:
            with contextlib.suppress(OSError):
                sock.send(b"kill")

        cap, kill_at = settings.max_output_bytes, settings.output_kill_bytes
        stdout = Collector(loop, out_r, cap, kill_at, flood)
        stderr = Collector(loop, err_r, cap, kill_at, flood)
        report = Collector(loop, rep_r, MAX_REPORT_BYTES, MAX_REPORT_BYTES + 1, flood)
        writer = asyncio.ensure_future(feed(loop, job_w, json.dumps(job).encode()))
        status: dict[str, Any] = {}
        try:
            raw = await asyncio.wait_for(loop.sock_recv(sock, 65536), settings.timeout_s + GRACE_S)
            status = json.loads(raw) if raw else {}
        except (TimeoutError, OSError, ValueError):
            status = {}
        if not status or "error" in status:
            await self.kill()  # hung or dead: the pool replaces it
        collectors = (stdout, stderr, report)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(c.done for c in collectors)), GRACE_S)
        for collector in collectors:
            collector.close()
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError, OSError):
            await writer
        return self._result(status, stdout, stderr, report, start)

    def _result(
        self, status: dict[str, Any], stdout: Collector, stderr: Collector, report: Collector,
        start: float,
    ) -> ExecResult:  # fmt: skip
        parsed: dict[str, Any] | None = None
        if report.data:
            with contextlib.suppress(ValueError):
                value = json.loads(report.data)
                parsed = value if isinstance(value, dict) else None
        signal_number = status.get("signal")
        exit_code = -int(signal_number) if signal_number else status.get("exit")
        timed_out = bool(status.get("timed_out")) or not status
        flooded = stdout.flooded or stderr.flooded
        if flooded:
            problem: str | None = "output_limit"
        elif not status:
            problem = "sandbox_failure"
        elif exit_code == 125:
            problem = "sandbox_setup_failed"
        else:
            problem = violation(exit_code, timed_out)
        return ExecResult(
            backend=ZygoteSandbox.name,
            exit_code=exit_code,
            timed_out=timed_out and not flooded,
            duration_ms=(time.perf_counter() - start) * 1000,
            stdout=stdout.data.decode(errors="replace"),
            stderr=stderr.data.decode(errors="replace"),
            report=parsed,
            violation=problem,
            output_truncated=stdout.truncated or stderr.truncated,
            extra={"cpu_ms": status.get("cpu_ms"), "maxrss_kb": status.get("maxrss_kb")},
        )


class ZygoteSandbox(Sandbox):
    """A pool of warm zygotes (one per core by default), each inside bubblewrap."""

    name: ClassVar[str] = "zygote"
    isolation: ClassVar[Isolation] = Isolation.BWRAP

    def __init__(self, settings: SandboxSettings) -> None:
        super().__init__(settings)
        self._idle: asyncio.Queue[Zygote] = asyncio.Queue()
        self._zygotes: list[Zygote] = []
        self.status.update(pool=settings.effective_pool_size, alive=0, uid=settings.uid)

    @classmethod
    def available(cls) -> tuple[bool, str]:
        return probe_bwrap(cap_sys_admin=True)

    async def start(self) -> None:
        self._zygotes = [Zygote(self.settings, i) for i in range(self.settings.effective_pool_size)]
        await asyncio.gather(*(z.start() for z in self._zygotes))
        for zygote in self._zygotes:
            self._idle.put_nowait(zygote)
        self._update_status()

    async def aclose(self) -> None:
        for zygote in self._zygotes:
            await zygote.kill()
        self._update_status()

    def _update_status(self) -> None:
        alive = sum(1 for z in self._zygotes if z.alive)
        self.status["alive"] = alive
        self.status["ok"] = alive > 0 or not self._zygotes

    async def run(self, job: dict[str, Any]) -> ExecResult:
        if not self._zygotes:
            raise SandboxError("the zygote pool was not started")
        zygote = await self._idle.get()
        try:
            for attempt in range(2):
                if not zygote.alive:
                    await zygote.kill()
                    await zygote.start()
                try:
                    return await zygote.run(job)
                except ZygoteGone:
                    if attempt:
                        raise
            raise AssertionError("unreachable")  # pragma: no cover
        except SandboxError:
            self._update_status()
            raise
        finally:
            self._idle.put_nowait(zygote)
            self._update_status()
