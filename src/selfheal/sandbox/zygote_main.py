"""A warm zygote: started clean inside bubblewrap, it forks one child per job.

Standard library only; runs as ``/usr/bin/python3 -I -S /zygote.py <control-fd>`` inside
``bwrap --unshare-all --clearenv`` under an unprivileged uid, with CAP_SYS_ADMIN in the
sandbox's own user namespace only (to make the per-job namespaces below).

It never sees a secret: empty environment, no settings, no service code, and it never
reads a job (the job travels from the service straight to the child over a pipe).

Control protocol on a SOCK_SEQPACKET socket, one message each:

    zygote  -> service  {"ready": true, "pid": int}
    service -> zygote   {"limits": {...}, "timeout_s": float}  + 4 fds (SCM_RIGHTS):
                        job (child's stdin), stdout, stderr, report
    service -> zygote   b"kill"   (optional: e.g. the output cap was exceeded)
    zygote  -> service  {"exit": int|null, "signal": int|null, "timed_out": bool,
                         "killed": bool, "cpu_ms": float, "maxrss_kb": int}

Each job child is created by clone(CLONE_NEWPID | CLONE_NEWNS): it is PID 1 of a fresh
PID namespace, so when it exits or is killed the kernel kills every process it started,
``setsid`` grandchildren included, and it cannot see (or signal) the zygote. In its own
mount namespace it gets a fresh size-limited tmpfs on /tmp (its working directory) and
its own /proc; it then drops every capability, sets no_new_privs and the rlimits, and
runs the harness.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import resource
import select
import signal
import socket
import sys
import time
from typing import Any, NoReturn

CLONE_NEWNS = 0x00020000
CLONE_NEWPID = 0x20000000
SYS_CLONE = 56  # x86_64
MS_NOSUID, MS_NODEV, MS_NOEXEC = 0x2, 0x4, 0x8
PR_SET_DUMPABLE, PR_SET_CHILD_SUBREAPER, PR_SET_NO_NEW_PRIVS = 4, 36, 38
PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 47, 4
RLIMITS = {
    "cpu": resource.RLIMIT_CPU,
    "as": resource.RLIMIT_AS,
    "nproc": resource.RLIMIT_NPROC,
    "fsize": resource.RLIMIT_FSIZE,
    "nofile": resource.RLIMIT_NOFILE,
    "core": resource.RLIMIT_CORE,
}
# Modules jobs often import, loaded once here so that a job's fork inherits them.
PRELOAD = (
    "typing", "math", "re", "collections", "itertools", "functools", "string", "heapq",
    "bisect", "random", "statistics", "fractions", "decimal", "datetime", "copy", "hashlib",
    "operator", "dataclasses", "enum",
)  # fmt: skip

libc = ctypes.CDLL(None, use_errno=True)
# clone must run with the GIL held so that the child resumes in a consistent interpreter.
_clone = ctypes.PyDLL(None, use_errno=True).syscall
_clone.restype = ctypes.c_long


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]  # fmt: skip


def _check(result: int, what: str) -> None:
    if result != 0:
        raise OSError(ctypes.get_errno(), what)


def _drop_capabilities() -> None:
    libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    _check(libc.capset(ctypes.byref(_CapHeader(0x20080522, 0)), (_CapData * 2)()), "capset")
    _check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")


def _child(header: dict[str, Any], fds: list[int], harness: dict[str, Any]) -> NoReturn:
    """In the job's own PID and mount namespaces: confine, then run the harness."""
    try:
        moved = [os.dup(fd) for fd in fds]
        for target, fd in enumerate(moved):
            os.dup2(fd, target)
        os.closerange(4, 1 << 16)
        tmp_opts = f"size={int(header['tmp_mb'])}m,nr_inodes=4096,mode=0700".encode()
        _check(libc.mount(b"tmpfs", b"/tmp", b"tmpfs", MS_NOSUID | MS_NODEV, tmp_opts), "tmp")
        flags = MS_NOSUID | MS_NODEV | MS_NOEXEC
        _check(libc.mount(b"proc", b"/proc", b"proc", flags, None), "proc")
        os.chdir("/tmp")
        libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)  # its own /proc/self; the zygote is not in view
        _drop_capabilities()
        os.setsid()
        for name, value in header["limits"].items():
            resource.setrlimit(RLIMITS[name], (value[0], value[1]))
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        # clone() skips CPython's after-fork hooks: reseed what the zygote preloaded
        sys.modules["random"].seed() if "random" in sys.modules else None
    except BaseException as exc:  # confinement failed: never run the job
        os.write(2, f"sandbox setup failed: {exc!r}\n".encode())
        os._exit(125)
    try:
        harness["serve"](0, 3)
    finally:
        os._exit(0)


def _wait(pid: int, control: socket.socket, timeout_s: float) -> dict[str, Any]:
    """Wait for the job (or a kill request, or the deadline); return its status message."""
    pidfd = os.pidfd_open(pid)
    timed_out = killed = False
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            ready, _, _ = select.select([pidfd, control.fileno()], [], [], left)
            if pidfd in ready:
                break
            if ready:
                killed = True
                break
        if timed_out or killed:
            os.kill(pid, signal.SIGKILL)
    finally:
        os.close(pidfd)
    _, status, usage = os.wait4(pid, 0)
    if killed:
        with contextlib.suppress(OSError):
            control.recv(64)
    return {
        "exit": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
        "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
        "timed_out": timed_out,
        "killed": killed,
        "cpu_ms": (usage.ru_utime + usage.ru_stime) * 1000,
        "maxrss_kb": usage.ru_maxrss,
    }


def main() -> None:
    control = socket.socket(fileno=int(sys.argv[1]))
    libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)  # jobs of the same uid cannot read our memory
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    harness = {"__name__": "selfheal_harness"}
    with open("/harness.py", encoding="utf-8") as source:
        exec(compile(source.read(), "/harness.py", "exec"), harness)
    for name in PRELOAD:
        with contextlib.suppress(ImportError):
            __import__(name)
    control.send(json.dumps({"ready": True, "pid": os.getpid()}).encode())
    while True:
        message, fds, _, _ = socket.recv_fds(control, 65536, 4)
        if not message:
            return
        if message == b"kill":  # a kill request that arrived after its job had ended
            continue
        header = json.loads(message)
        if len(fds) != 4:
            for fd in fds:
                os.close(fd)
            control.send(json.dumps({"error": "expected 4 file descriptors"}).encode())
            continue
        pid = _clone(SYS_CLONE, CLONE_NEWPID | CLONE_NEWNS | signal.SIGCHLD, 0, 0, 0, 0)
        if pid == 0:
            control.close()
            _child(header, fds, harness)
        for fd in fds:
            os.close(fd)
        if pid < 0:
            control.send(
                json.dumps({"error": f"clone failed: errno {ctypes.get_errno()}"}).encode()
            )
            continue
        status = _wait(pid, control, float(header["timeout_s"]))
        while True:  # reap anything re-parented to us (nothing should be)
            try:
                if os.waitpid(-1, os.WNOHANG)[0] == 0:
                    break
            except ChildProcessError:
                break
        control.send(json.dumps(status).encode())


if __name__ == "__main__":
    main()
