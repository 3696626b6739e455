"""Resource limits applied to a job's process before it runs untrusted code."""

from __future__ import annotations

import ctypes
import os
import resource

from selfheal.core.config import SandboxSettings

CLONE_NEWNET = 0x40000000


def rlimits(settings: SandboxSettings) -> list[tuple[int, tuple[int, int]]]:
    mb = 1024 * 1024
    return [
        (resource.RLIMIT_CPU, (settings.cpu_s, settings.cpu_s + 1)),
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
    """Move the calling process into a new, empty network namespace (needs privilege)."""
    libc = ctypes.CDLL(None, use_errno=True)
    return bool(libc.unshare(CLONE_NEWNET) == 0)


def can_unshare_network() -> bool:
    """Probe in a throwaway child whether a new network namespace can be made here."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        os._exit(0 if unshare_network() else 1)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0
