"""Backends that start one zygote per job: ``bwrap`` (a fresh bubblewrap container for each
job: nothing warm is shared between jobs, at the cost of an interpreter start) and
``process`` (no bubblewrap: rlimits, its own session and, when the service may, its own
network namespace — weak isolation that an operator must opt into).

Both run the same ``zygote_main.py`` as the warm pool, so a job is always the code's
process and the tests' process, talking over a pipe."""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from typing import ClassVar

from selfheal.core.config import SandboxSettings
from selfheal.sandbox import cgroups
from selfheal.sandbox.base import ExecResult, Isolation, Job, Sandbox
from selfheal.sandbox.limits import can_unshare_network, unshare_network
from selfheal.sandbox.pipes import probe_bwrap
from selfheal.sandbox.reaper import become_subreaper, reap_orphans
from selfheal.sandbox.zygote import (
    Wrapper,
    Zygote,
    bwrap_wrapper,
    confinement_available,
    job_cgroup,
    plain_wrapper,
    remove_cgroup,
    seccomp_status,
)


class _OneShot(Sandbox):
    """A zygote started for one job and stopped after it."""

    def __init__(self, settings: SandboxSettings) -> None:
        super().__init__(settings)
        self._subreaper = become_subreaper()
        self._running: set[int] = set()
        self._spawning = 0
        self._cgroups, limits = cgroups.for_settings(settings)
        self._jobs = itertools.count()
        self.status.update(job_limits=limits, seccomp=seccomp_status())

    def wrapper(self) -> Wrapper:
        raise NotImplementedError

    def preexec(self) -> None:  # pragma: no cover - runs in the child
        """Runs in the zygote's process before it drops privileges and execs."""

    async def run(self, job: Job) -> ExecResult:
        cgroup = job_cgroup(self.settings, self._cgroups, f"job{next(self._jobs)}")
        zygote = Zygote(
            self.settings,
            0,
            wrapper=self.wrapper(),
            preload=False,
            preexec=self.preexec,
            cgroup=cgroup,
        )
        workdir = tempfile.mkdtemp(prefix="selfheal-job-")
        os.chmod(workdir, 0o777)
        try:
            self._spawning += 1
            try:
                await zygote.start()
            finally:
                self._spawning -= 1
            assert zygote.proc is not None
            self._running.add(zygote.proc.pid)
            self.status["job_namespaces"] = zygote.job_namespaces
            result = await zygote.run(job, workdir=workdir)
            result.backend = self.name
            return result
        finally:
            pid = zygote.proc.pid if zygote.proc is not None else None
            await zygote.kill()
            self._running.discard(pid or -1)
            if self._subreaper and not self._spawning:
                # Not while a spawn is in flight: its pid is not in _running yet.
                reap_orphans(self._running)
            if cgroup is not None:
                remove_cgroup(cgroup)  # and with it whatever of the job was still running
            shutil.rmtree(workdir, ignore_errors=True)


class BwrapSandbox(_OneShot):
    """One bubblewrap container per job: no network, read-only /usr, tmpfs /tmp, own PIDs."""

    name: ClassVar[str] = "bwrap"
    isolation: ClassVar[Isolation] = Isolation.BWRAP

    def __init__(self, settings: SandboxSettings) -> None:
        super().__init__(settings)
        self._bwrap = shutil.which(settings.bwrap) or settings.bwrap

    @classmethod
    def available(cls, settings: SandboxSettings) -> tuple[bool, str]:
        ok, why = probe_bwrap(settings, cap_sys_admin=True)
        return confinement_available() if ok else (ok, why)

    def wrapper(self) -> Wrapper:
        return bwrap_wrapper(self._bwrap)


class ProcessSandbox(_OneShot):
    """A plain child process per job (rlimits, own session, the job filter; own network and
    SysV IPC namespaces when the service may make them; the job cgroup when there is one;
    per-job user/PID/mount/IPC/network namespaces where unprivileged user namespaces exist).
    Code can read the host's files that its uid can read."""

    name: ClassVar[str] = "process"
    isolation: ClassVar[Isolation] = Isolation.PROCESS

    def __init__(self, settings: SandboxSettings) -> None:
        super().__init__(settings)
        self._netns = can_unshare_network()

    @property
    def effective_isolation(self) -> Isolation:
        return Isolation.NAMESPACES if self._netns else Isolation.PROCESS

    def wrapper(self) -> Wrapper:
        return plain_wrapper

    def preexec(self) -> None:  # pragma: no cover - runs in the child
        if self._netns and not unshare_network():
            os._exit(125)
