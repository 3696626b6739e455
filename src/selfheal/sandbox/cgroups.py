"""One memory and process budget for all the processes of a job: a cgroup per job slot.

cgroup v2 (memory and pids enabled for the service's cgroup's children) or v1 (the memory
and pids hierarchies, each writable by the service). Job cgroups are made beside nothing
else: under the service's own cgroup, as read from /proc/self/cgroup, named
``selfheal-<service pid>-<name>``.

A job's processes join by writing ``0`` to ``cgroup.procs`` through a file the service
opened (as root, or as the owner of a delegated subtree) and the zygote inherited: the
kernel checks the opener's credentials, so the unprivileged job child can move itself in,
as its first step, before it runs anything of the job. The zygote itself stays outside: its
memory is not the job's, and the memory killer only ever chooses among the job's processes.

Where cgroups are not available (a non-root service without delegation), what holds is
per process: RLIMIT_AS for memory and RLIMIT_NPROC (per uid) for processes; ``probe`` says
why in a sentence that /ready shows.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import re
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from selfheal.core.config import SandboxSettings
from selfheal.core.errors import ConfigurationError

CONTROLLERS = ("memory", "pids")
KILL_ROUNDS = 50


@dataclass(frozen=True, slots=True)
class Support:
    """Where job cgroups can be made: ``version`` 1 or 2, and the parent directory of each
    hierarchy (v2: one, keyed ``unified``)."""

    version: int
    parents: dict[str, Path] = field(default_factory=dict)


def _own_cgroups(text: str) -> dict[str, str]:
    """/proc/self/cgroup -> {controller or '' (v2): path}."""
    own: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if not controllers:
            own[""] = path
        for name in controllers.split(","):
            if name:
                own[name] = path
    return own


def _mounts(text: str) -> list[tuple[str, Path, str, set[str]]]:
    """/proc/self/mountinfo -> (root inside the hierarchy, mount point, fstype, super options)."""
    found = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 3 or not tail[0].startswith("cgroup"):
            continue
        mount_point = Path(fields[4].replace("\\040", " "))
        found.append((fields[3], mount_point, tail[0], set(tail[2].split(","))))
    return found


def _directory(root: str, mount_point: Path, own: str) -> Path | None:
    """The directory of cgroup ``own`` in a hierarchy mounted at ``mount_point`` from ``root``."""
    if root != "/" and own != root and not own.startswith(root.rstrip("/") + "/"):
        return None
    rest = own[len(root) :] if root != "/" else own
    return mount_point / rest.lstrip("/")


def _writable(path: Path) -> bool:
    return path.is_dir() and os.access(path, os.W_OK | os.X_OK)


def _probe_v2(own: dict[str, str], mounts: list[tuple[str, Path, str, set[str]]]) -> Support | str:
    if "" not in own:
        return "no cgroup v2 hierarchy"
    for root, mount_point, fstype, _ in mounts:
        if fstype != "cgroup2":
            continue
        directory = _directory(root, mount_point, own[""])
        if directory is None or not directory.is_dir():
            continue
        try:
            available = set((directory / "cgroup.controllers").read_text().split())
        except OSError:
            continue
        missing = [c for c in CONTROLLERS if c not in available]
        if missing:
            return f"cgroup v2 at {directory} lacks the {'+'.join(missing)} controller"
        if not _writable(directory):
            return f"cgroup v2 at {directory} is not writable by uid {os.geteuid()} (not delegated)"
        try:
            enabled = set((directory / "cgroup.subtree_control").read_text().split())
            if not set(CONTROLLERS) <= enabled:
                (directory / "cgroup.subtree_control").write_text(
                    " ".join(f"+{c}" for c in CONTROLLERS)
                )
        except OSError as exc:
            why = "the cgroup has processes of its own" if exc.errno == errno.EBUSY else str(exc)
            return (
                f"cannot enable memory+pids for the children of {directory} ({why}): run the "
                "service in a delegated cgroup of its own"
            )
        return Support(2, {"unified": directory})
    return "no usable cgroup v2 mount"


def _probe_v1(own: dict[str, str], mounts: list[tuple[str, Path, str, set[str]]]) -> Support | str:
    parents: dict[str, Path] = {}
    for controller in CONTROLLERS:
        if controller not in own:
            return f"no cgroup v1 {controller} hierarchy"
        for root, mount_point, fstype, options in mounts:
            if fstype == "cgroup" and controller in options:
                directory = _directory(root, mount_point, own[controller])
                if directory is not None and directory.is_dir():
                    parents[controller] = directory
                    break
        else:
            return f"the cgroup v1 {controller} hierarchy is not mounted"
        if not _writable(parents[controller]):
            return (
                f"cgroup v1 {controller} at {parents[controller]} is not writable by uid "
                f"{os.geteuid()}"
            )
    return Support(1, parents)


@functools.lru_cache(maxsize=1)
def probe() -> tuple[Support | None, str]:
    """Whether this service can make job cgroups here: (support, '') or (None, why not)."""
    try:
        own = _own_cgroups(Path("/proc/self/cgroup").read_text())
        mounts = _mounts(Path("/proc/self/mountinfo").read_text())
    except OSError as exc:
        return None, f"cannot read this process's cgroups: {exc}"
    v2 = _probe_v2(own, mounts)
    if isinstance(v2, Support):
        return v2, ""
    v1 = _probe_v1(own, mounts)
    if isinstance(v1, Support):
        return v1, ""
    return None, f"{v2}; {v1}"


def remove_stale(support: Support) -> int:
    """Remove empty job cgroups left by services that are gone (a crash, a kill -9); how many.
    One that still holds processes is left alone: its service may live in another PID
    namespace, where its pid means something else."""
    removed = 0
    for parent in support.parents.values():
        with contextlib.suppress(OSError):
            for directory in parent.iterdir():
                match = re.fullmatch(r"selfheal-(\d+)-[\w.-]+", directory.name)
                if match is None or not directory.is_dir() or _alive(int(match[1])):
                    continue
                key = (
                    "unified"
                    if support.version == 2
                    else next(k for k, v in support.parents.items() if v == parent)
                )
                stale = JobCgroup(support, {key: directory})
                if stale.pids():
                    continue
                with contextlib.suppress(OSError):
                    directory.rmdir()
                    removed += 1
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def fallback_limits(settings: SandboxSettings) -> str:
    return (
        f"per process only: RLIMIT_AS {settings.memory_mb} MiB for each process, RLIMIT_NPROC "
        f"{settings.max_processes} for the sandbox uid (a job's processes together may take more)"
    )


def for_settings(settings: SandboxSettings) -> tuple[Support | None, str]:
    """The cgroup support SANDBOX_CGROUP asks for: (support or None, a sentence for /ready).
    Raises ConfigurationError when it is ``required`` and the machine cannot give it."""
    if settings.cgroup == "off":
        return None, "SANDBOX_CGROUP=off: " + fallback_limits(settings)
    support, why = probe()
    if support is None:
        if settings.cgroup == "required":
            raise ConfigurationError(
                f"SANDBOX_CGROUP=required but no job cgroup can be made: {why}. Run the service "
                "as root or in a delegated cgroup (systemd: Delegate=yes), or set "
                "SANDBOX_CGROUP=auto to accept per-process limits"
            )
        return None, f"no cgroups ({why}): " + fallback_limits(settings)
    remove_stale(support)
    return support, (
        f"cgroup v{support.version}: each job's processes together get {settings.memory_mb} MiB "
        f"and {settings.max_processes} processes"
    )


class JobCgroup:
    """The cgroup (v2) or pair of cgroups (v1 memory + pids) of one job slot."""

    def __init__(self, support: Support, dirs: dict[str, Path]) -> None:
        self.support = support
        self.dirs = dirs

    @classmethod
    def create(
        cls, name: str, memory_bytes: int, max_pids: int, support: Support | None = None
    ) -> JobCgroup:
        if support is None:
            support, why = probe()
            if support is None:
                raise OSError(errno.ENOTSUP, f"no job cgroups here: {why}")
        leaf = f"selfheal-{os.getpid()}-{name}"
        dirs = {key: parent / leaf for key, parent in support.parents.items()}
        group = cls(support, dirs)
        try:
            for directory in dirs.values():
                directory.mkdir(exist_ok=True)
            group._limit(memory_bytes, max_pids)
        except OSError:
            group.remove()
            raise
        return group

    def _dir(self, controller: str) -> Path:
        return self.dirs["unified"] if self.support.version == 2 else self.dirs[controller]

    def _limit(self, memory_bytes: int, max_pids: int) -> None:
        memory, pids = self._dir("memory"), self._dir("pids")
        (pids / "pids.max").write_text(str(max_pids))
        if self.support.version == 2:
            (memory / "memory.max").write_text(str(memory_bytes))
            with contextlib.suppress(OSError):  # no swap accounting: nothing to swap to
                (memory / "memory.swap.max").write_text("0")
            with contextlib.suppress(OSError):  # the whole job goes at once (4.19+)
                (memory / "memory.oom.group").write_text("1")
            return
        (memory / "memory.limit_in_bytes").write_text(str(memory_bytes))
        with contextlib.suppress(OSError):  # only with swap accounting
            (memory / "memory.memsw.limit_in_bytes").write_text(str(memory_bytes))

    def procs_files(self) -> list[Path]:
        return [directory / "cgroup.procs" for directory in self.dirs.values()]

    def open_join_fds(self) -> list[int]:
        """Files a process (of any uid) writes ``0`` to, to move itself into this cgroup."""
        fds: list[int] = []
        try:
            for path in self.procs_files():
                fds.append(os.open(path, os.O_WRONLY | os.O_CLOEXEC))
        except OSError:
            for fd in fds:
                os.close(fd)
            raise
        return fds

    def join(self, pid: int = 0) -> None:
        """Move ``pid`` (0: the calling process) into this cgroup (e.g. from a preexec)."""
        for path in self.procs_files():
            with open(path, "w") as file:
                file.write(str(pid))

    def pids(self) -> set[int]:
        found: set[int] = set()
        for path in self.procs_files():
            with contextlib.suppress(OSError):
                found.update(int(p) for p in path.read_text().split())
        return found

    def usage(self) -> int:
        """Memory charged to the job now, in bytes."""
        name = "memory.current" if self.support.version == 2 else "memory.usage_in_bytes"
        try:
            return int((self._dir("memory") / name).read_text())
        except (OSError, ValueError):
            return 0

    def peak(self) -> int | None:
        """The most memory the job held since the last ``reset_peak`` (None: not known)."""
        name = "memory.peak" if self.support.version == 2 else "memory.max_usage_in_bytes"
        try:
            return int((self._dir("memory") / name).read_text())
        except (OSError, ValueError):
            return None

    def reset_peak(self) -> None:
        name = "memory.peak" if self.support.version == 2 else "memory.max_usage_in_bytes"
        with contextlib.suppress(OSError):  # memory.peak is resettable from 6.12
            (self._dir("memory") / name).write_text("0")

    def oom_kills(self) -> int:
        """How many of the job's processes the memory killer ended, in this cgroup's life."""
        name = "memory.events" if self.support.version == 2 else "memory.oom_control"
        try:
            text = (self._dir("memory") / name).read_text()
        except OSError:
            return 0
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                with contextlib.suppress(ValueError):
                    return int(value)
        return 0

    def kill_all(self, timeout_s: float = 5.0) -> bool:
        """SIGKILL every process in the cgroup, until none is left; whether it emptied."""
        if self.support.version == 2:
            with contextlib.suppress(OSError):  # cgroup.kill: 5.14+
                (self.dirs["unified"] / "cgroup.kill").write_text("1")
        deadline = time.monotonic() + timeout_s
        while True:
            left = self.pids()
            if not left:
                return True
            for pid in left:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)

    def remove(self) -> None:
        """Kill what is left, then remove the cgroup directories."""
        for directory in self.dirs.values():
            if not directory.exists():
                continue
            for _ in range(KILL_ROUNDS):
                try:
                    directory.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError as exc:
                    if exc.errno != errno.EBUSY:
                        raise
                    self.kill_all(timeout_s=1.0)
                    time.sleep(0.01)
