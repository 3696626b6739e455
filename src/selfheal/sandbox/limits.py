"""Resource limits applied to a job's process before it runs untrusted code."""

from __future__ import annotations

import contextlib
import ctypes
import math
import os
import resource

from selfheal.core.config import SandboxSettings

CLONE_NEWNET = 0x40000000
CLONE_NEWIPC = 0x08000000


def rlimits(settings: SandboxSettings) -> list[tuple[int, tuple[int, int]]]:
    mb = 1024 * 1024
    cpu_s = max(1, math.ceil(settings.job_timeout_s))
    return [
        (resource.RLIMIT_CPU, (cpu_s, cpu_s + 1)),
        (resource.RLIMIT_AS, (settings.memory_mb * mb, settings.memory_mb * mb)),
        (resource.RLIMIT_NPROC, (settings.max_processes, settings.max_processes)),
        (resource.RLIMIT_FSIZE, (settings.max_file_mb * mb, settings.max_file_mb * mb)),
        (resource.RLIMIT_NOFILE, (settings.max_open_files, settings.max_open_files)),
        (resource.RLIMIT_CORE, (0, 0)),
    ]


def apply_rlimits(settings: SandboxSettings) -> None:
    for kind, value in rlimits(settings):
        resource.setrlimit(kind, value)


def unshare_network() -> bool:
    """Move the calling process into a new, empty network namespace and a new SysV IPC
    namespace (shared memory, semaphores and queues die with it); needs privilege."""
    libc = ctypes.CDLL(None, use_errno=True)
    return bool(libc.unshare(CLONE_NEWNET | CLONE_NEWIPC) == 0)


def can_unshare_network() -> bool:
    """Probe in a throwaway child whether a new network namespace can be made here."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        os._exit(0 if unshare_network() else 1)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0


def rlimit_table(settings: SandboxSettings) -> dict[str, tuple[int, int]]:
    """The same limits by name, as the zygote applies them in each job child."""
    names = {
        resource.RLIMIT_CPU: "cpu",
        resource.RLIMIT_AS: "as",
        resource.RLIMIT_NPROC: "nproc",
        resource.RLIMIT_FSIZE: "fsize",
        resource.RLIMIT_NOFILE: "nofile",
        resource.RLIMIT_CORE: "core",
    }
    return {names[kind]: value for kind, value in rlimits(settings)}


def sandbox_identity(settings: SandboxSettings) -> tuple[int, int] | None:
    """(uid, gid) to run jobs as: root's jobs drop to an unprivileged uid, because the
    kernel does not enforce RLIMIT_NPROC for root. None when already unprivileged."""
    if os.geteuid() != 0:
        return None
    return settings.uid, settings.gid


def drop_privileges(identity: tuple[int, int] | None) -> None:
    """In a forked child: become the unprivileged sandbox user (no supplementary groups)."""
    if identity is None:
        return
    uid, gid = identity
    from selfheal.sandbox.confine import empty_bounding_set

    with contextlib.suppress(OSError):  # while still root (where CAP_SETPCAP is ours)
        empty_bounding_set()
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
