"""Confinement of one job process, run in the job child right before the untrusted code.

Standard library only: the zygote (``python3 -I -S``, no site-packages) loads this file
from inside the sandbox; the service imports it too (to probe the filter).

- ``raise_oom_score``: the job's processes are the memory killer's first choice;
- ``drop_capabilities``: ambient cleared, the bounding set emptied, no capability left in
  the effective, permitted or inheritable sets, and no_new_privs (no exec may gain one);
- ``install_filter``: the seccomp BPF program the service built (``sandbox/seccomp.py``).
"""

from __future__ import annotations

import ctypes

PR_CAPBSET_READ, PR_CAPBSET_DROP = 23, 24
PR_SET_NO_NEW_PRIVS, PR_GET_NO_NEW_PRIVS = 38, 39
PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 47, 4
PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2
CAP_SETPCAP = 8
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
_MAX_FILTER_INSNS = 4096
_libc = ctypes.CDLL(None, use_errno=True)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _check(result: int, what: str) -> None:
    if result != 0:
        raise OSError(ctypes.get_errno(), f"{what} failed")


def _capabilities() -> list[int]:
    """The effective, permitted and inheritable sets, as 64-bit masks."""
    data = (_CapData * 2)()
    _check(_libc.capget(ctypes.byref(_CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)), data), "capget")
    return [
        data[0].effective | data[1].effective << 32,
        data[0].permitted | data[1].permitted << 32,
        data[0].inheritable | data[1].inheritable << 32,
    ]


def bounding_set() -> list[int]:
    """The capabilities still in this process's bounding set."""
    left = []
    for cap in range(64):
        present = _libc.prctl(PR_CAPBSET_READ, cap, 0, 0, 0)
        if present < 0:  # past the kernel's last capability
            break
        if present == 1:
            left.append(cap)
    return left


def empty_bounding_set() -> None:
    """Drop every capability from the bounding set (needs CAP_SETPCAP)."""
    for cap in bounding_set():
        _check(_libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0), f"prctl(PR_CAPBSET_DROP, {cap})")


def drop_capabilities() -> None:
    """Leave this process no capability, now or after any exec.

    The bounding set can only be emptied while CAP_SETPCAP is effective (the zygote gets it
    inside its own user namespace); without it (an unprivileged process) it stays as it is,
    which is harmless: no_new_privs stops setuid and file capabilities, and the job filter
    refuses new user namespaces.
    """
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")
    _libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)  # EINVAL before 4.3
    if _capabilities()[0] & (1 << CAP_SETPCAP):
        empty_bounding_set()
    empty = (_CapData * 2)()
    _check(_libc.capset(ctypes.byref(_CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)), empty), "capset")
    if any(_capabilities()):
        raise OSError("capabilities remain after capset")


def raise_oom_score() -> None:
    """Make this process (and what it starts) the memory killer's first choice."""
    try:
        with open("/proc/self/oom_score_adj", "w") as file:
            file.write("1000")
    except OSError:
        pass


def install_filter(program: bytes) -> None:
    """Install a seccomp BPF program (``struct sock_filter[]``) on this process for good."""
    if not program or len(program) % 8 or len(program) // 8 > _MAX_FILTER_INSNS:
        raise ValueError(f"not a seccomp program: {len(program)} bytes")
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len(program) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")
    _check(
        _libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0),
        "prctl(PR_SET_SECCOMP)",
    )
