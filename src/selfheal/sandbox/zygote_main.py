"""A zygote: started clean inside bubblewrap, it runs each job as two confined children.

Standard library only; runs as ``/usr/bin/python3 -I -S /zygote.py <control-fd>`` inside
``bwrap --unshare-all --clearenv`` under an unprivileged uid, with CAP_SYS_ADMIN and
CAP_SETPCAP in the sandbox's own user namespace only (to make the per-job namespaces below
and to empty each job's bounding set). The one-job
backends run the same file for a single job (``bwrap`` per job, or a plain process).

It never sees a secret: empty environment, no settings, no service code, and it never reads
a job's data: the code travels from the service straight to the code's process and the
tests straight to the tests' process, each over its own pipe.

Control protocol on a SOCK_SEQPACKET socket, one message each:

    zygote  -> service  {"ready": true, "pid": int, "namespaces": bool}
    service -> zygote   {"limits": {...}, "job_timeout_s": float, "tmp_mb": int,
                         "seccomp": bool}  + 5 fds (SCM_RIGHTS):
                        code, tests, stdout, stderr, report
    service -> zygote   b"kill"   (optional: e.g. the output cap was exceeded)
    zygote  -> service  {"code": {...}, "tests": {...}, "timed_out": bool, "killed": bool}
                        where each process is {"exit", "signal", "cpu_ms", "maxrss_kb"}

Each job is two children made by clone(CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC): the
code's process and the tests' process, each PID 1 of its own PID namespace (everything it
starts dies with it; it cannot see or signal the other, nor the zygote), each with its own
size-limited tmpfs on /tmp, its own /proc and its own SysV IPC. First of all it joins the
job's cgroup (through ``cgroup.procs`` files the service opened: one memory and process
budget for all of the job's processes; the zygote stays outside). Then: no capabilities,
no_new_privs, the job seccomp filter (no nested namespaces, mount, ptrace, keyctl, bpf ...),
rlimits, and the harness. They talk only over two pipes the zygote made for them. The
zygote waits for the tests' process, then kills the code's; the job's time cap kills both.
"""

import contextlib
import ctypes
import gc
import json
import os
import resource
import select
import signal
import socket
import sys
import time
from collections.abc import Callable
from typing import Any

CLONE_NEWNS = 0x00020000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
# Per-job namespaces: with CAP_SYS_ADMIN (inside bubblewrap), or, without it (the process
# backend), inside a new user namespace of the job's own, with its own network too.
JOB_NAMESPACES = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC
USER_JOB_NAMESPACES = JOB_NAMESPACES | CLONE_NEWUSER | CLONE_NEWNET
MS_NOSUID, MS_NODEV, MS_NOEXEC = 0x2, 0x4, 0x8
PR_SET_DUMPABLE, PR_SET_CHILD_SUBREAPER = 4, 36
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
    "typing",
    "math",
    "re",
    "collections",
    "itertools",
    "functools",
    "string",
    "heapq",
    "bisect",
    "random",
    "statistics",
    "fractions",
    "decimal",
    "datetime",
    "copy",
    "hashlib",
    "operator",
    "dataclasses",
    "enum",
    "json",
    "marshal",
    "traceback",
    "io",
    "struct",
    "ast",
    "binascii",
)

libc = ctypes.CDLL(None, use_errno=True)
# clone must run with the GIL held so that the child resumes in a consistent interpreter.
_syscall = ctypes.PyDLL(None, use_errno=True).syscall
_syscall.restype = ctypes.c_long


def _check(result: int, what: str) -> None:
    if result != 0:
        raise OSError(ctypes.get_errno(), what)


def _map_ids(uid: int, gid: int) -> None:
    """In a new user namespace: the same uid and gid inside as outside (nothing else)."""
    # /proc/self/*_map of a non-dumpable process belong to root: dumpable for this step only
    # (the child holds nothing yet; _confine makes it non-dumpable again).
    libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)
    for name, text in (
        ("uid_map", f"{uid} {uid} 1"),
        ("setgroups", "deny"),
        ("gid_map", f"{gid} {gid} 1"),
    ):
        with open(f"/proc/self/{name}", "w") as file:
            file.write(text)


def _mount_private(tmp_mb: int) -> None:
    """The job's own /tmp, /dev/shm (POSIX shared memory, multiprocessing's semaphores) and
    /proc: all gone with its mount namespace."""
    tmp_opts = f"size={tmp_mb}m,nr_inodes=4096,mode=0700".encode()
    _check(libc.mount(b"tmpfs", b"/tmp", b"tmpfs", MS_NOSUID | MS_NODEV, tmp_opts), "tmp")
    if os.path.isdir("/dev/shm"):
        shm_opts = f"size={tmp_mb}m,nr_inodes=1024,mode=1777".encode()
        flags = MS_NOSUID | MS_NODEV | MS_NOEXEC
        _check(libc.mount(b"tmpfs", b"/dev/shm", b"tmpfs", flags, shm_opts), "shm")
    flags = MS_NOSUID | MS_NODEV | MS_NOEXEC
    _check(libc.mount(b"proc", b"/proc", b"proc", flags, None), "proc")


def _confine(
    header: dict[str, Any],
    fds: list[int],
    confine: dict[str, Any],
    seccomp_program: bytes | None,
    namespaces: int,
    cgroup_fds: list[int],
    ids: tuple[int, int],
    tmp: tuple[str, int] | None = None,
) -> None:
    """In a job child: the job's cgroup, own /tmp and /proc, no capabilities, the filter, the
    limits.

    ``tmp``: ("make", sock) mounts the job's /tmp, /dev/shm and /proc and sends its mount
    namespace over the unix socket ``sock`` (the code's process); ("share", sock) receives
    it, joins it and takes a private copy with a /proc of its own (the tests' process: the
    tests see the files the code wrote, as in one interpreter). Both happen before any job
    code runs; where the hand-over fails (e.g. a user namespace per job process), the tests
    get private mounts of their own."""
    for fd in cgroup_fds:  # first: everything the job does from here on counts against it
        os.write(fd, b"0")
    if namespaces & CLONE_NEWUSER:
        _map_ids(*ids)
    extra = [] if tmp is None else [tmp[1]]
    moved = [os.dup(fd) for fd in [*fds, *extra]]
    null = os.open("/dev/null", os.O_RDWR)
    for target, fd in enumerate([null, *moved]):
        os.dup2(fd, target)
    os.closerange(len(fds) + len(extra) + 1, 1 << 16)
    sock = socket.socket(fileno=len(fds) + 1) if tmp is not None else None
    if namespaces:
        shared = False
        if tmp is not None and tmp[0] == "share" and sock is not None:
            with contextlib.suppress(OSError, ValueError):
                _, received, _, _ = socket.recv_fds(sock, 1, 1)
                if received:
                    shared = (
                        libc.setns(received[0], CLONE_NEWNS) == 0 and libc.unshare(CLONE_NEWNS) == 0
                    )
                    os.close(received[0])
        if shared:
            flags = MS_NOSUID | MS_NODEV | MS_NOEXEC
            _check(libc.mount(b"proc", b"/proc", b"proc", flags, None), "proc")
        else:
            _mount_private(int(header["tmp_mb"]))
        if tmp is not None and tmp[0] == "make" and sock is not None:
            with contextlib.suppress(OSError):
                ns = os.open("/proc/self/ns/mnt", os.O_RDONLY)
                socket.send_fds(sock, [b"n"], [ns])
                os.close(ns)
        os.chdir("/tmp")
    else:
        os.chdir(header["workdir"])
    if sock is not None:
        sock.close()
    libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)  # nothing of the same uid may read our memory
    confine["raise_oom_score"]()
    confine["drop_capabilities"]()
    os.setsid()
    for name, value in header["limits"].items():
        resource.setrlimit(RLIMITS[name], (value[0], value[1]))
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    if seccomp_program is not None:
        confine["install_filter"](seccomp_program)
    # clone() skips CPython's after-fork hooks: reseed what the zygote preloaded
    if "random" in sys.modules:
        sys.modules["random"].seed()


def _spawn(clone_nr: int | None, namespaces: int, run: Callable[[], None]) -> int:
    if clone_nr is None:  # no syscall table for this machine: a plain fork, no namespaces
        pid = os.fork()
    else:
        pid = int(_syscall(clone_nr, namespaces | signal.SIGCHLD, 0, 0, 0, 0))
    if pid == 0:
        try:
            run()
        except BaseException as exc:  # confinement failed: never run the job
            with contextlib.suppress(OSError):
                os.write(2, f"sandbox setup failed: {exc!r}\n".encode())
            os._exit(125)
        os._exit(0)
    if pid < 0:
        raise OSError(ctypes.get_errno(), "clone")
    return pid


def _status(pid: int) -> dict[str, Any]:
    _, status, usage = os.wait4(pid, 0)
    return {
        "exit": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
        "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
        "cpu_ms": (usage.ru_utime + usage.ru_stime) * 1000,
        "maxrss_kb": usage.ru_maxrss,
    }


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)  # without namespaces: the job's session (best effort)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def run_job(
    header: dict[str, Any], fds: list[int], control: socket.socket, state: dict[str, Any]
) -> dict[str, Any]:
    """Run one job: the code's process and the tests' process; return the status message."""
    code_fd, tests_fd, out_fd, err_fd, report_fd = fds
    t2c_r, t2c_w = os.pipe()
    c2t_r, c2t_w = os.pipe()
    harness, confine = state["harness"], state["confine"]
    program = state.get("seccomp") if header.get("seccomp") else None
    namespaces, cgroup_fds, ids = state["namespaces"], state["cgroup_fds"], state["ids"]

    share_c, share_t = socket.socketpair()  # the code's mount namespace, for the tests

    def code_child() -> None:
        # fd 0 /dev/null, 1 stdout, 2 stderr, 3 code, 4 requests in, 5 replies out
        share_t.close()
        _confine(
            header,
            [out_fd, err_fd, code_fd, t2c_r, c2t_w],
            confine,
            program,
            namespaces,
            cgroup_fds,
            ids,
            ("make", share_c.fileno()),
        )
        harness["serve_code"](3, 4, 5)
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(BaseException):
                stream.flush()

    def tests_child() -> None:
        # fd 0 /dev/null, 1 and 2 /dev/null, 3 tests, 4 replies in, 5 requests out, 6 report
        null = os.open("/dev/null", os.O_WRONLY)
        share_c.close()
        _confine(
            header,
            [null, null, tests_fd, c2t_r, t2c_w, report_fd],
            confine,
            program,
            namespaces,
            cgroup_fds,
            ids,
            ("share", share_t.fileno()),
        )
        harness["run_tests"](3, 4, 5, 6)

    pids = {}
    try:
        pids["code"] = _spawn(state["clone_nr"], namespaces, code_child)
        pids["tests"] = _spawn(state["clone_nr"], namespaces, tests_child)
    finally:
        for fd in (*fds, t2c_r, t2c_w, c2t_r, c2t_w):
            os.close(fd)
        share_c.close()
        share_t.close()
    return _supervise(pids, control, float(header["job_timeout_s"]))


def _supervise(pids: dict[str, int], control: socket.socket, timeout_s: float) -> dict[str, Any]:
    """Wait for the tests (or a kill request, or the cap); then end the code's process."""
    pidfds = {name: os.pidfd_open(pid) for name, pid in pids.items()}
    timed_out = killed = False
    ended: set[str] = set()  # processes that ended on their own, before we stopped the job
    try:
        deadline = time.monotonic() + timeout_s
        while "tests" not in ended:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            waiting = [fd for name, fd in pidfds.items() if name not in ended]
            ready, _, _ = select.select([*waiting, control.fileno()], [], [], left)
            if control.fileno() in ready:
                killed = True
                break
            ended.update(name for name, fd in pidfds.items() if fd in ready)
    finally:
        for fd in pidfds.values():
            os.close(fd)
    for pid in pids.values():
        _kill(pid)  # the tests are done (or out of time): nothing of the job may go on
    result = {name: _status(pid) for name, pid in pids.items()}
    for name in result:
        result[name]["stopped"] = name not in ended  # ended by us, not by itself
    if killed:
        with contextlib.suppress(OSError):
            control.recv(64)
    _reap()
    return {**result, "timed_out": timed_out, "killed": killed}


def _reap() -> None:
    while True:  # anything re-parented to us (nothing should be)
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                return
        except ChildProcessError:
            return


def _job_namespaces(clone_nr: int | None, ids: tuple[int, int]) -> int:
    """The namespaces each job child can get here: JOB_NAMESPACES (with CAP_SYS_ADMIN),
    USER_JOB_NAMESPACES (unprivileged user namespaces), or 0 (none)."""
    if clone_nr is None:
        return 0
    for flags in (JOB_NAMESPACES, USER_JOB_NAMESPACES):
        pid = int(_syscall(clone_nr, flags | signal.SIGCHLD, 0, 0, 0, 0))
        if pid == 0:  # try all that a job child will do
            try:
                if flags & CLONE_NEWUSER:
                    _map_ids(*ids)
                _mount_private(1)
            except BaseException:
                os._exit(1)
            os._exit(0)
        if pid > 0 and os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0:
            return flags
    return 0


def _read(where: str) -> bytes:
    """A file bound into the sandbox, or ``fd:N``: a pipe the service filled for us."""
    if where.startswith("fd:"):
        fd, chunks = int(where[3:]), list[bytes]()
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        os.close(fd)
        return b"".join(chunks)
    with open(where, "rb") as file:
        return file.read()


def _load(where: str, name: str) -> dict[str, Any]:
    namespace = {"__name__": name}
    exec(compile(_read(where).decode(), name, "exec", dont_inherit=True), namespace)
    return namespace


def main() -> None:
    """argv: control fd, clone syscall number or -, harness, confine, seccomp program or -,
    preload (1/0), the job cgroup's ``cgroup.procs`` fds (comma-separated) or -; each file a
    path inside the sandbox or ``fd:N``."""
    control = socket.socket(fileno=int(sys.argv[1]))
    libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)  # jobs of the same uid cannot read our memory
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    state: dict[str, Any] = {
        "clone_nr": None if sys.argv[2] == "-" else int(sys.argv[2]),
        "harness": _load(sys.argv[3], "selfheal_harness"),
        "confine": _load(sys.argv[4], "selfheal_confine"),
        "cgroup_fds": [] if sys.argv[7] == "-" else [int(fd) for fd in sys.argv[7].split(",")],
    }
    if sys.argv[5] != "-":
        state["seccomp"] = _read(sys.argv[5])
    if sys.argv[6] == "1":
        for name in PRELOAD:
            with contextlib.suppress(ImportError):
                __import__(name)
    state["ids"] = (os.getuid(), os.getgid())
    state["namespaces"] = _job_namespaces(state["clone_nr"], state["ids"])
    gc.freeze()  # what the zygote holds stays out of the jobs' collections: fewer copied pages
    hello = {
        "ready": True,
        "pid": os.getpid(),
        "namespaces": bool(state["namespaces"]),
        "user_namespace": bool(state["namespaces"] & CLONE_NEWUSER),
    }
    control.send(json.dumps(hello).encode())
    while True:
        message, fds, _, _ = socket.recv_fds(control, 65536, 5)
        if not message:
            return
        if message == b"kill":  # a kill request that arrived after its job had ended
            continue
        header = json.loads(message)
        if len(fds) != 5:
            for fd in fds:
                os.close(fd)
            control.send(json.dumps({"error": "expected 5 file descriptors"}).encode())
            continue
        try:
            status = run_job(header, fds, control, state)
        except OSError as exc:
            status = {"error": f"could not start the job: {exc}"}
        control.send(json.dumps(status).encode())


if __name__ == "__main__":
    main()
