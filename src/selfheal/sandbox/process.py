"""Backends that start one process per job: ``process`` (plain child with rlimits, own
session and, when permitted, own network namespace) and ``bwrap`` (bubblewrap namespaces).

Both run the harness as ``python3 -I -S -c <source>`` (no file the sandbox user must be
able to read) and, when the service is root, as the unprivileged sandbox uid so that
RLIMIT_NPROC holds."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import shutil
import signal
import tempfile
import time
from pathlib import Path
from typing import Any, ClassVar

from selfheal.core.config import SandboxSettings
from selfheal.sandbox.base import ExecResult, Isolation, Sandbox
from selfheal.sandbox.limits import (
    apply_rlimits,
    can_unshare_network,
    drop_privileges,
    sandbox_identity,
    unshare_network,
)
from selfheal.sandbox.pipes import BWRAP_BASE, probe_bwrap, violation
from selfheal.sandbox.reaper import become_subreaper, reap_orphans

HARNESS = Path(__file__).with_name("harness.py")
MAX_REPORT_BYTES = 16 * 1024 * 1024


async def _read_capped(stream: asyncio.StreamReader | None, cap: int) -> tuple[bytes, bool]:
    """Read a stream to EOF keeping at most ``cap`` bytes; report whether more came."""
    if stream is None:
        return b"", False
    kept = bytearray()
    truncated = False
    while True:
        chunk = await stream.read(65536)
        if not chunk:
            return bytes(kept), truncated
        room = cap - len(kept)
        if room > 0:
            kept += chunk[:room]
        if len(chunk) > room:
            truncated = True


class ProcessSandbox(Sandbox):
    name: ClassVar[str] = "process"
    isolation: ClassVar[Isolation] = Isolation.PROCESS

    def __init__(self, settings: SandboxSettings) -> None:
        super().__init__(settings)
        self._netns = can_unshare_network()
        self._identity = sandbox_identity(settings)
        self._running: set[int] = set()
        self._spawning = 0
        self._subreaper = become_subreaper()

    @property
    def effective_isolation(self) -> Isolation:
        return Isolation.NAMESPACES if self._netns else Isolation.PROCESS

    def command(self, report_fd: int) -> list[str]:
        return [self.settings.python, "-I", "-S", "-c", _harness_source(), str(report_fd)]

    def _preexec(self) -> None:  # pragma: no cover - runs in the child
        if self._netns and not unshare_network():
            os._exit(125)
        apply_rlimits(self.settings)
        drop_privileges(self._identity)

    async def run(self, job: dict[str, Any]) -> ExecResult:
        start = time.perf_counter()
        payload = json.dumps(job).encode()
        workdir = tempfile.mkdtemp(prefix="selfheal-job-")
        os.chmod(workdir, 0o777)
        report_r, report_w = os.pipe()
        proc: asyncio.subprocess.Process | None = None
        try:
            self._spawning += 1
            try:
                proc = await asyncio.create_subprocess_exec(
                    *self.command(report_w),
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE,
                    cwd=workdir,
                    env={},
                    start_new_session=True,
                    pass_fds=(report_w,),
                    preexec_fn=self._preexec,
                )
                self._running.add(proc.pid)
            finally:
                self._spawning -= 1
            os.close(report_w)
            report_w = -1
            return await self._collect(proc, payload, report_r, start)
        finally:
            if report_w != -1:
                os.close(report_w)
            with contextlib.suppress(OSError):
                os.close(report_r)
            if proc is not None and proc.returncode is None:
                self._kill(proc)
                await proc.wait()
            if proc is not None:
                self._running.discard(proc.pid)
            if self._subreaper and not self._spawning:
                # Not while a spawn is in flight: its pid is not in _running yet.
                reap_orphans(self._running)
            shutil.rmtree(workdir, ignore_errors=True)

    async def _collect(
        self, proc: asyncio.subprocess.Process, payload: bytes, report_r: int, start: float
    ) -> ExecResult:
        cap = self.settings.max_output_bytes
        loop = asyncio.get_running_loop()
        report_reader = asyncio.StreamReader(limit=MAX_REPORT_BYTES)
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(report_reader), os.fdopen(os.dup(report_r), "rb")
        )
        try:
            assert proc.stdin is not None
            # A child that dies before reading its stdin closes the pipe: asyncio raises
            # BrokenPipeError, uvloop a RuntimeError ("handler is closed"). Either way the
            # verdict comes from what the child reported (nothing), not from this write.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError, RuntimeError):
                proc.stdin.write(payload)
                await proc.stdin.drain()
                proc.stdin.close()
            gathered = asyncio.gather(
                _read_capped(proc.stdout, cap),
                _read_capped(proc.stderr, cap),
                _read_capped(report_reader, MAX_REPORT_BYTES),
                proc.wait(),
            )
            timed_out = False
            try:
                (out, out_trunc), (err, err_trunc), (report_raw, _), _ = await asyncio.wait_for(
                    asyncio.shield(gathered), timeout=self.settings.timeout_s
                )
            except TimeoutError:
                timed_out = True
                self._kill(proc)
                (out, out_trunc), (err, err_trunc), (report_raw, _), _ = await gathered
        finally:
            transport.close()
        report: dict[str, Any] | None = None
        if report_raw:
            try:
                parsed = json.loads(report_raw)
                report = parsed if isinstance(parsed, dict) else None
            except ValueError:
                report = None
        return ExecResult(
            backend=self.name,
            exit_code=proc.returncode,
            timed_out=timed_out,
            duration_ms=(time.perf_counter() - start) * 1000,
            stdout=out.decode(errors="replace"),
            stderr=err.decode(errors="replace"),
            report=report,
            output_truncated=out_trunc or err_trunc,
            violation=violation(proc.returncode, timed_out),
        )

    @staticmethod
    def _kill(proc: asyncio.subprocess.Process) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            proc.kill()


@functools.lru_cache(maxsize=1)
def _harness_source() -> str:
    return HARNESS.read_text(encoding="utf-8")


class BwrapSandbox(ProcessSandbox):
    """One bubblewrap container per job: no network, read-only /usr, tmpfs /tmp, own PIDs."""

    name: ClassVar[str] = "bwrap"
    isolation: ClassVar[Isolation] = Isolation.BWRAP

    def __init__(self, settings: SandboxSettings) -> None:
        Sandbox.__init__(self, settings)
        self._netns = False  # bwrap makes its own network namespace
        self._identity = sandbox_identity(settings)
        self._running = set()
        self._spawning = 0
        self._subreaper = become_subreaper()
        self._bwrap = shutil.which("bwrap") or "bwrap"

    @property
    def effective_isolation(self) -> Isolation:
        return Isolation.BWRAP

    @classmethod
    def available(cls) -> tuple[bool, str]:
        return probe_bwrap(cap_sys_admin=False)

    def command(self, report_fd: int) -> list[str]:
        return [
            self._bwrap, *BWRAP_BASE, "--chdir", "/tmp",
            self.settings.python, "-I", "-S", "-c", _harness_source(), str(report_fd),
        ]  # fmt: skip
