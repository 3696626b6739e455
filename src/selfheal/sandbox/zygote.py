"""Zygotes, the service's side: start one, hand it jobs, collect what the job wrote.

A zygote is ``/usr/bin/python3 -I -S zygote_main.py`` (see there for what runs inside): it
holds no secret of the service, so the memory a job inherits is clean. Every backend runs
jobs through a zygote; they differ in how it is wrapped and how long it lives:

- ``zygote``: a warm pool (one per core) inside bubblewrap, one fork per job;
- ``bwrap``: a fresh bubblewrap + zygote per job (no warm state at all, slower);
- ``process``: a fresh zygote per job with no bubblewrap (weak: an explicit opt-in).

The service hands each job its own pipes (code in, tests in, stdout, stderr, report) over
a SOCK_SEQPACKET control socket (SCM_RIGHTS): job data never passes through the zygote, the
code never sees the tests, and the report stays on a channel separate from the program's
output. Each zygote runs one job at a time, so its cgroup (when the machine has them) is
the job's memory and process budget.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import json
import logging
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from selfheal.core.config import SandboxSettings
from selfheal.core.errors import SandboxError
from selfheal.sandbox import cgroups, seccomp
from selfheal.sandbox.base import ExecResult, Isolation, Job, Sandbox
from selfheal.sandbox.cgroups import JobCgroup
from selfheal.sandbox.limits import drop_privileges, rlimit_table, sandbox_identity
from selfheal.sandbox.pipes import BWRAP_BASE, Collector, feed, probe_bwrap, violation

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
HARNESS, CONFINE, ZYGOTE_MAIN = HERE / "harness.py", HERE / "confine.py", HERE / "zygote_main.py"
MAX_REPORT_BYTES = 4 * 1024 * 1024
START_TIMEOUT_S = 20.0
GRACE_S = 5.0  # the zygote enforces the job's cap; the service waits this much longer
F_SETPIPE_SZ = 1031


@functools.lru_cache(maxsize=1)
def clone_number() -> int | None:
    """The clone syscall's number on this machine, from libseccomp (None: not known here, so
    the zygote can only fork, without per-job namespaces)."""
    try:
        return seccomp.syscall_number("clone")
    except seccomp.SeccompUnavailable:
        return None


@functools.lru_cache(maxsize=1)
def seccomp_program() -> bytes | None:
    """The job seccomp filter as BPF bytes, built once (None where it cannot be built)."""
    ok, _ = seccomp.supported()
    return seccomp.job_filter() if ok else None


def confinement_available() -> tuple[bool, str]:
    """What a zygote backend needs beyond bubblewrap: the clone syscall and the job filter."""
    ok, why = seccomp.supported()
    if not ok:
        return False, f"the job seccomp filter is unavailable: {why}"
    if clone_number() is None:  # pragma: no cover - the filter resolves clone itself
        return False, "libseccomp does not know the clone syscall on this machine"
    return True, ""


def remove_cgroup(cgroup: JobCgroup) -> None:
    try:
        cgroup.remove()
    except OSError as exc:  # never fail a job or a shutdown over it
        log.warning("SANDBOX: could not remove the job cgroup %s: %s", cgroup.dirs, exc)


def seccomp_status() -> str:
    ok, why = seccomp.supported()
    return "on: no nested namespaces, mounts, ptrace, keyctl, bpf, io_uring ..." if ok else why


def job_cgroup(
    settings: SandboxSettings, support: cgroups.Support | None, name: str
) -> JobCgroup | None:
    """A job cgroup for one zygote, or None where SANDBOX_CGROUP lets it go without."""
    if support is None:
        return None
    try:
        return JobCgroup.create(
            name, settings.memory_mb * 1024 * 1024, settings.max_processes, support
        )
    except OSError as exc:
        if settings.cgroup == "required":
            raise SandboxError(f"could not make the job cgroup {name}: {exc}") from exc
        log.warning("SANDBOX: no job cgroup (%s): limits are per process only", exc)
        return None


def _data_pipe(data: bytes) -> int:
    """A pipe already holding ``data`` (bwrap's --ro-bind-data, or /proc/self/fd/N, reads it)."""
    read_fd, write_fd = os.pipe()
    try:
        with contextlib.suppress(OSError):  # room for the whole file (the harness is ~40 KB)
            fcntl.fcntl(write_fd, F_SETPIPE_SZ, max(65536, 1 << (len(data) + 1).bit_length()))
        view = memoryview(data)
        while view:
            view = view[os.write(write_fd, view) :]
    finally:
        os.close(write_fd)
    return read_fd


Wrapper = Callable[[list[str], dict[str, int]], list[str]]


def bwrap_wrapper(bwrap: str) -> Wrapper:
    """Run the zygote inside bubblewrap, its files bound read-only from pipes."""

    def wrap(command: list[str], files: dict[str, int]) -> list[str]:
        binds: list[str] = []
        for path, fd in files.items():
            binds += ["--ro-bind-data", str(fd), path]
        return [
            bwrap,
            *BWRAP_BASE,
            # inside its own user namespace only: per-job namespaces, and emptying the job's
            # bounding set (the job itself keeps no capability); CAP_SYS_CHROOT: the tests'
            # process joins the code's mount namespace (setns), to share its /tmp
            "--cap-add",
            "CAP_SYS_ADMIN",
            "--cap-add",
            "CAP_SETPCAP",
            "--cap-add",
            "CAP_SYS_CHROOT",
            *binds,
            "--remount-ro",
            "/dev",
            "--remount-ro",
            "/",
            "--chdir",
            "/tmp",
            *command,
        ]

    return wrap


def plain_wrapper(command: list[str], files: dict[str, int]) -> list[str]:
    """No bubblewrap: the zygote reads its files from inherited pipes."""
    return command


class ZygoteGone(SandboxError):
    """The zygote died before it took the job (the job never started: safe to retry)."""


class Zygote:
    """One zygote process and its control socket."""

    def __init__(
        self,
        settings: SandboxSettings,
        index: int,
        *,
        wrapper: Wrapper,
        preload: bool,
        preexec: Callable[[], None] | None = None,
        cgroup: JobCgroup | None = None,
    ) -> None:
        self.settings = settings
        self.index = index
        self.wrapper = wrapper
        self.preload = preload
        self.preexec = preexec
        self.cgroup = cgroup  # every job of this zygote runs in it: the job's budget
        self.proc: asyncio.subprocess.Process | None = None
        self.sock: socket.socket | None = None
        self.alive = False
        self.namespaces = False  # each job child in its own PID, mount and IPC namespaces
        self.user_namespace = False  # ... made in a user namespace of its own (+ network)

    async def start(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        program = seccomp_program()
        fds = {
            "/harness.py": _data_pipe(HARNESS.read_bytes()),
            "/confine.py": _data_pipe(CONFINE.read_bytes()),
            "/zygote.py": _data_pipe(ZYGOTE_MAIN.read_bytes()),
        }
        if program is not None:
            fds["/seccomp.bpf"] = _data_pipe(program)
        wrapped = self.wrapper is not plain_wrapper
        path = (lambda name: name) if wrapped else (lambda name: f"fd:{fds[name]}")
        main = [path("/zygote.py")] if wrapped else ["-c", ZYGOTE_MAIN.read_text()]
        if not wrapped:
            os.close(fds.pop("/zygote.py"))
        join_fds = self._join_fds()
        clone_nr = clone_number()
        command = [
            self.settings.python,
            "-I",
            "-S",
            *main,
            str(theirs.fileno()),
            "-" if clone_nr is None else str(clone_nr),
            path("/harness.py"),
            path("/confine.py"),
            path("/seccomp.bpf") if program is not None else "-",
            "1" if self.preload else "0",
            ",".join(map(str, join_fds)) or "-",
        ]
        identity = sandbox_identity(self.settings)
        preexec = self.preexec

        def before_exec() -> None:  # pragma: no cover - runs in the child
            if preexec is not None:
                preexec()
            drop_privileges(identity)

        try:
            self.proc = await asyncio.create_subprocess_exec(
                *self.wrapper(command, fds),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                env={},
                pass_fds=(theirs.fileno(), *fds.values(), *join_fds),
                start_new_session=True,
                cwd="/",
                # uvloop has no user=/group=: drop privileges in the child before exec
                preexec_fn=before_exec,
            )
        finally:
            theirs.close()
            for fd in (*fds.values(), *join_fds):
                os.close(fd)
        ours.setblocking(False)
        self.sock = ours
        loop = asyncio.get_running_loop()
        try:
            hello_raw = await asyncio.wait_for(loop.sock_recv(ours, 4096), START_TIMEOUT_S)
        except TimeoutError:
            hello_raw = b""
        hello: dict[str, Any] = {}
        with contextlib.suppress(ValueError):
            hello = json.loads(hello_raw) if hello_raw else {}
        if not hello.get("ready"):
            stderr = b""
            await self.kill()
            if self.proc.stderr is not None:
                with contextlib.suppress(Exception):
                    stderr = await asyncio.wait_for(self.proc.stderr.read(4000), 2)
            raise SandboxError(
                f"zygote {self.index} did not start: {stderr.decode(errors='replace').strip()}"
            )
        self.namespaces = bool(hello.get("namespaces"))
        self.user_namespace = bool(hello.get("user_namespace"))
        self.alive = True

    @property
    def job_namespaces(self) -> str:
        """What /ready says about the namespaces of each job process."""
        if not self.namespaces:
            return "none: the job shares the zygote's PID, mount and IPC namespaces"
        return "pid, mount, ipc" + (", user, net" if self.user_namespace else "") + " per job"

    def _join_fds(self) -> list[int]:
        if self.cgroup is None:
            return []
        try:
            return self.cgroup.open_join_fds()
        except OSError as exc:  # e.g. removed under us
            if self.settings.cgroup == "required":
                raise SandboxError(f"zygote {self.index}: the job cgroup is gone: {exc}") from exc
            log.warning("SANDBOX: zygote %s runs without its job cgroup: %s", self.index, exc)
            self.cgroup = None
            return []

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

    async def run(self, job: Job, *, workdir: str | None = None) -> ExecResult:
        assert self.sock is not None
        start = time.perf_counter()
        settings = self.settings
        loop = asyncio.get_running_loop()
        sock = self.sock
        code_r, code_w = os.pipe()
        tests_r, tests_w = os.pipe()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        rep_r, rep_w = os.pipe()
        header = {
            "limits": rlimit_table(settings),
            "job_timeout_s": settings.job_timeout_s,
            "tmp_mb": settings.tmp_mb,
            "seccomp": seccomp_program() is not None,
            "workdir": workdir or "/tmp",
        }
        theirs = [code_r, tests_r, out_w, err_w, rep_w]
        cgroup = self.cgroup
        oom_before = 0
        if cgroup is not None:
            oom_before = cgroup.oom_kills()
            cgroup.reset_peak()
        try:
            socket.send_fds(sock, [json.dumps(header).encode()], theirs)
        except OSError as exc:
            for fd in (code_w, tests_w, out_r, err_r, rep_r):
                os.close(fd)
            await self.kill()
            raise ZygoteGone(f"zygote {self.index} is gone: {exc}") from exc
        finally:
            for fd in theirs:
                os.close(fd)

        def flood() -> None:
            with contextlib.suppress(OSError):
                sock.send(b"kill")

        cap, kill_at = settings.max_output_bytes, settings.output_kill_bytes
        stdout = Collector(loop, out_r, cap, kill_at, flood)
        stderr = Collector(loop, err_r, cap, kill_at, flood)
        report = Collector(loop, rep_r, MAX_REPORT_BYTES, MAX_REPORT_BYTES, flood)
        writers = [
            asyncio.ensure_future(feed(loop, code_w, job.code.encode("utf-8", "surrogatepass"))),
            asyncio.ensure_future(feed(loop, tests_w, json.dumps(job.tests).encode())),
        ]
        status: dict[str, Any] = {}
        try:
            raw = await asyncio.wait_for(
                loop.sock_recv(sock, 65536), settings.job_timeout_s + GRACE_S
            )
            status = json.loads(raw) if raw else {}
        except (TimeoutError, OSError, ValueError):
            status = {}
        if not status or "error" in status:
            await self.kill()  # hung or dead: the pool replaces it
        memory: dict[str, Any] = {}
        if cgroup is not None:
            # Nothing of the job may outlive it (with per-job PID namespaces nothing does).
            leftovers = cgroup.pids()
            if leftovers:
                await loop.run_in_executor(None, cgroup.kill_all)
            memory = {
                "oom_kills": cgroup.oom_kills() - oom_before,
                "peak_bytes": cgroup.peak(),
                "leftover_processes": len(leftovers),
            }
        collectors = (stdout, stderr, report)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(c.done for c in collectors)), GRACE_S)
        for collector in collectors:
            collector.close()
        for writer in writers:
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await writer
        return self._result(status, stdout, stderr, report, start, memory)

    def _result(
        self,
        status: dict[str, Any],
        stdout: Collector,
        stderr: Collector,
        report: Collector,
        start: float,
        memory: dict[str, Any],
    ) -> ExecResult:
        code: dict[str, Any] = status["code"] if isinstance(status.get("code"), dict) else {}
        tests: dict[str, Any] = status["tests"] if isinstance(status.get("tests"), dict) else {}
        signal_number = code.get("signal")
        exit_code = -int(signal_number) if signal_number else code.get("exit")
        if code.get("stopped") and not status.get("timed_out"):
            exit_code = None  # still serving when the tests were done: stopped by the zygote
        timed_out = bool(status.get("timed_out")) or not status
        flooded = stdout.flooded or stderr.flooded
        if flooded:
            problem: str | None = "output_limit"
        elif not status:
            problem = "sandbox_failure"
        elif "error" in status or exit_code == 125 or tests.get("exit") == 125:
            problem = "sandbox_setup_failed"
        elif memory.get("oom_kills"):
            problem = "memory_limit"  # the job's cgroup ran out: its processes were killed
        else:
            problem = violation(exit_code, timed_out)
        return ExecResult(
            backend=self.backend_name,
            exit_code=exit_code,
            timed_out=timed_out and not flooded,
            duration_ms=(time.perf_counter() - start) * 1000,
            stdout=stdout.data.decode(errors="replace"),
            stderr=stderr.data.decode(errors="replace"),
            report=report.data,
            violation=problem,
            output_truncated=stdout.truncated or stderr.truncated,
            extra={
                "cpu_ms": code.get("cpu_ms"),
                "maxrss_kb": code.get("maxrss_kb"),
                "tests_process": tests,
                "status_error": status.get("error"),
                "cgroup": memory or None,
            },
        )

    backend_name = "zygote"


class ZygoteSandbox(Sandbox):
    """A pool of warm zygotes (one per core by default), each inside bubblewrap."""

    name: ClassVar[str] = "zygote"
    isolation: ClassVar[Isolation] = Isolation.BWRAP

    def __init__(self, settings: SandboxSettings) -> None:
        super().__init__(settings)
        self._idle: asyncio.Queue[Zygote] = asyncio.Queue()
        self._zygotes: list[Zygote] = []
        self._bwrap = shutil.which(settings.bwrap) or settings.bwrap
        self._cgroups, limits = cgroups.for_settings(settings)
        identity = sandbox_identity(settings)
        uid = identity[0] if identity is not None else os.geteuid()  # a non-root service: its own
        self.status.update(
            pool=settings.effective_pool_size,
            alive=0,
            uid=uid,
            job_limits=limits,
            seccomp=seccomp_status(),
        )

    @classmethod
    def available(cls, settings: SandboxSettings) -> tuple[bool, str]:
        ok, why = probe_bwrap(settings, cap_sys_admin=True)
        return confinement_available() if ok else (ok, why)

    async def start(self) -> None:
        wrapper = bwrap_wrapper(self._bwrap)
        self._zygotes = [
            Zygote(
                self.settings,
                i,
                wrapper=wrapper,
                preload=True,
                cgroup=job_cgroup(self.settings, self._cgroups, f"zygote{i}"),
            )
            for i in range(self.settings.effective_pool_size)
        ]
        await asyncio.gather(*(z.start() for z in self._zygotes))
        if not all(z.namespaces for z in self._zygotes):
            raise SandboxError("the zygote cannot create per-job namespaces inside bubblewrap")
        self.status["job_namespaces"] = self._zygotes[0].job_namespaces
        for zygote in self._zygotes:
            self._idle.put_nowait(zygote)
        self._update_status()

    async def aclose(self) -> None:
        for zygote in self._zygotes:
            await zygote.kill()
            if zygote.cgroup is not None:
                remove_cgroup(zygote.cgroup)
        self._update_status()

    def _update_status(self) -> None:
        alive = sum(1 for z in self._zygotes if z.alive)
        self.status["alive"] = alive
        self.status["ok"] = alive > 0 or not self._zygotes

    async def run(self, job: Job) -> ExecResult:
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
