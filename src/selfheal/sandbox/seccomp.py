"""The seccomp filter every job process runs under, built with libseccomp (pyseccomp).

Built once in the service and handed to the zygote as BPF bytes (``export_bpf``); the
zygote (standard library only, no site-packages) installs it in each job child with
``confine.install_filter`` after the child made its own /tmp and /proc, and before it runs
any untrusted code. Syscall numbers and the architecture check come from libseccomp, so
nothing here is tied to x86_64; an architecture the filter does not know how to check
(clone's flags are not its first argument on s390) refuses the zygote backends.

Policy: everything is allowed except what a test job never needs and what breaks out of
the per-job limits: nested namespaces (unshare, setns, clone with a CLONE_NEW* flag; clone3
answers ENOSYS so that glibc falls back to clone, whose flags a filter can read), mounts of
every kind, ptrace and cross-process memory access, the kernel keyring, bpf, perf, userfaultfd,
io_uring, module and kexec loading, swap, reboot, accounting, quotas, file handles, and any
personality other than the default. A denied call fails with EPERM; a syscall of another
ABI (i386 or x32 on x86_64) kills the process.
"""

from __future__ import annotations

import errno
import functools
import os
import platform
import tempfile
from typing import Any

# clone flags that make a new namespace (CLONE_NEWTIME, 0x80, is read by clone3 and unshare
# only: in clone's flags those bits are the exit signal).
CLONE_NAMESPACE_FLAGS = {
    "CLONE_NEWNS": 0x00020000,
    "CLONE_NEWCGROUP": 0x02000000,
    "CLONE_NEWUTS": 0x04000000,
    "CLONE_NEWIPC": 0x08000000,
    "CLONE_NEWUSER": 0x10000000,
    "CLONE_NEWPID": 0x20000000,
    "CLONE_NEWNET": 0x40000000,
}
# Denied outright with EPERM. Every name must exist on a supported architecture except the
# ones in OPTIONAL (old or architecture-specific calls, or newer than this libseccomp).
DENIED = (
    "unshare",
    "setns",
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "move_mount",
    "open_tree",
    "fsopen",
    "fsmount",
    "fsconfig",
    "fspick",
    "mount_setattr",
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "pidfd_getfd",
    "kcmp",
    "keyctl",
    "add_key",
    "request_key",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "kexec_load",
    "init_module",
    "finit_module",
    "delete_module",
    "swapon",
    "swapoff",
    "reboot",
    "acct",
    "quotactl",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "name_to_handle_at",
    "open_by_handle_at",
    "lookup_dcookie",
    "syslog",
    "vhangup",
)
OPTIONAL = (
    "umount",
    "kexec_file_load",
    "quotactl_fd",
    "open_tree_attr",
    "iopl",
    "ioperm",
    "uselib",
    "nfsservctl",
)
# Architectures whose clone takes its flags as the first argument.
UNSUPPORTED_ARCHES = ("s390", "s390x")
PERSONALITY_QUERY = 0xFFFFFFFF

try:  # libseccomp itself may be missing (pyseccomp raises at import then)
    import pyseccomp

    _IMPORT_ERROR: str | None = None
except (ImportError, OSError, RuntimeError) as exc:  # pragma: no cover - depends on the host
    pyseccomp = None
    _IMPORT_ERROR = f"{type(exc).__name__}: {exc}"

_INSTALL_HINT = "install libseccomp (Debian/Ubuntu: apt-get install libseccomp2) and pyseccomp"


class SeccompUnavailable(RuntimeError):
    """The filter cannot be built on this machine (the message says why)."""


def _lib() -> Any:
    if pyseccomp is None:
        raise SeccompUnavailable(f"libseccomp is not usable ({_IMPORT_ERROR}): {_INSTALL_HINT}")
    return pyseccomp


def syscall_number(name: str) -> int:
    """The native number of ``name``, from libseccomp; raises where this arch lacks it."""
    lib = _lib()
    number = int(lib.resolve_syscall(lib.Arch.NATIVE, name))
    if number < 0:
        raise SeccompUnavailable(f"libseccomp knows no syscall {name!r} on {platform.machine()}")
    return number


def _optional_number(name: str) -> int | None:
    lib = _lib()
    number = int(lib.resolve_syscall(lib.Arch.NATIVE, name))
    return number if number >= 0 else None


def _build() -> Any:
    machine = platform.machine()
    if machine in UNSUPPORTED_ARCHES:
        raise SeccompUnavailable(
            f"the job filter cannot check clone's flags on {machine} (flags are not the "
            "first argument there): the zygote backends are not supported on this architecture"
        )
    lib = _lib()
    eperm, enosys = lib.ERRNO(errno.EPERM), lib.ERRNO(errno.ENOSYS)
    job = lib.SyscallFilter(lib.ALLOW)
    job.set_attr(lib.Attr.ACT_BADARCH, lib.KILL_PROCESS)  # other ABIs: i386, x32
    for name in DENIED:
        job.add_rule(eperm, syscall_number(name))
    for name in OPTIONAL:
        if (number := _optional_number(name)) is not None:
            job.add_rule(eperm, number)
    clone = syscall_number("clone")
    for flag in CLONE_NAMESPACE_FLAGS.values():
        job.add_rule(eperm, clone, lib.Arg(0, lib.MASKED_EQ, flag, flag))
    job.add_rule(enosys, syscall_number("clone3"))
    # personality: only the default (0) and the query (0xffffffff). A rule compares an
    # argument once, so "neither" is spelled as: above 32 bits, or some bit set whose
    # neighbour (cyclically) is clear — true of every 32-bit value but all-zeros/all-ones.
    personality = syscall_number("personality")
    job.add_rule(eperm, personality, lib.Arg(0, lib.GT, PERSONALITY_QUERY))
    for bit in range(32):
        pair = (1 << bit) | (1 << (bit + 1) % 32)
        job.add_rule(eperm, personality, lib.Arg(0, lib.MASKED_EQ, pair, 1 << bit))
    return job


def _export(job: Any) -> bytes:
    with tempfile.TemporaryFile() as file:
        job.export_bpf(file)
        file.seek(0)
        program = file.read()
    if not program or len(program) % 8 or len(program) // 8 > 4096:
        raise SeccompUnavailable(f"libseccomp exported an unusable program ({len(program)} bytes)")
    return program


@functools.lru_cache(maxsize=1)
def job_filter() -> bytes:
    """The job filter as a BPF program (struct sock_filter[], native byte order)."""
    return _export(_build())


@functools.lru_cache(maxsize=1)
def supported() -> tuple[bool, str]:
    """Whether the filter can be built and installed here, and why not."""
    try:
        program = job_filter()
    except (SeccompUnavailable, OSError) as exc:
        return False, str(exc)
    ok, why = _can_install(program)
    return (True, "") if ok else (False, f"the kernel refused the job filter: {why}")


def _can_install(program: bytes) -> tuple[bool, str]:
    """Install the filter in a throwaway child and check that a namespace is refused."""
    from selfheal.sandbox import confine

    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        os.close(read_fd)
        code = 0
        try:
            confine.install_filter(program)
            import ctypes

            unshare = ctypes.CDLL(None, use_errno=True).unshare
            if unshare(CLONE_NAMESPACE_FLAGS["CLONE_NEWUSER"]) == 0:
                os.write(write_fd, b"unshare was not refused")
                code = 1
        except BaseException as exc:
            os.write(write_fd, repr(exc).encode()[:500])
            code = 1
        os._exit(code)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as reader:
        why = reader.read().decode(errors="replace")
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0, why
