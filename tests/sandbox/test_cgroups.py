"""Job cgroups: one memory and process budget for all of a job's processes.

Real cgroups on this machine (v1 memory+pids here, as root); the tests that need them skip
with the probe's reason elsewhere, unless SELFHEAL_REQUIRE_CGROUP=1.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from selfheal.core.config import SandboxSettings, get_settings
from selfheal.core.errors import ConfigurationError
from selfheal.sandbox import cgroups
from selfheal.sandbox.base import Sandbox
from selfheal.sandbox.cgroups import JobCgroup, Support
from selfheal.sandbox.process import ProcessSandbox
from selfheal.sandbox.runner import ExecutionVerdict, run_tests
from selfheal.sandbox.testplan import build_plan
from selfheal.sandbox.zygote import ZygoteSandbox

SUPPORT, WHY = cgroups.probe()
needs_cgroups = pytest.mark.skipif(
    SUPPORT is None and os.environ.get("SELFHEAL_REQUIRE_CGROUP") != "1", reason=WHY
)
BWRAP_OK, BWRAP_WHY = ZygoteSandbox.available(get_settings().sandbox)
SETTINGS = SandboxSettings(
    timeout_s=8, job_timeout_s=20, pool_size=1, memory_mb=256, max_processes=48
)
MiB = 1024 * 1024


def test_own_cgroups_and_mounts_are_read_for_v1_and_v2() -> None:
    own = cgroups._own_cgroups(
        "9:name=systemd:/\n8:pids:/\n4:memory:/svc/abc\n2:cpu,cpuacct:/x\n0::/user.slice/a\n"
    )
    assert own == {
        "name=systemd": "/",
        "pids": "/",
        "memory": "/svc/abc",
        "cpu": "/x",
        "cpuacct": "/x",
        "": "/user.slice/a",
    }
    mounts = cgroups._mounts(
        "30 25 0:26 / /sys/fs/cgroup/memory rw,relatime shared:9 - cgroup cgroup rw,memory\n"
        "31 25 0:27 /svc /mnt/cg2 rw - cgroup2 cgroup2 rw,nsdelegate\n"
        "32 25 0:28 / /proc rw - proc proc rw\n"
    )
    assert [(r, str(m), t) for r, m, t, _ in mounts] == [
        ("/", "/sys/fs/cgroup/memory", "cgroup"),
        ("/svc", "/mnt/cg2", "cgroup2"),
    ]
    assert "memory" in mounts[0][3]
    assert cgroups._directory("/", Path("/sys/fs/cgroup/memory"), "/svc/abc") == Path(
        "/sys/fs/cgroup/memory/svc/abc"
    )
    assert cgroups._directory("/svc", Path("/mnt/cg2"), "/svc/job") == Path("/mnt/cg2/job")
    assert cgroups._directory("/svc", Path("/mnt/cg2"), "/other") is None


def test_required_refuses_without_cgroups_and_off_says_what_holds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cgroups, "probe", lambda: (None, "not delegated"))
    with pytest.raises(ConfigurationError, match=r"SANDBOX_CGROUP=required.*not delegated"):
        cgroups.for_settings(SandboxSettings(cgroup="required"))
    support, detail = cgroups.for_settings(SandboxSettings(cgroup="auto", memory_mb=300))
    assert support is None and "RLIMIT_AS 300 MiB" in detail and "RLIMIT_NPROC" in detail
    support, detail = cgroups.for_settings(SandboxSettings(cgroup="off"))
    assert support is None and detail.startswith("SANDBOX_CGROUP=off")


@pytest.fixture
def group() -> Iterator[JobCgroup]:
    if SUPPORT is None:
        pytest.skip(WHY)
    made = JobCgroup.create("test", 64 * MiB, 8, SUPPORT)
    yield made
    made.remove()
    assert not any(d.exists() for d in made.dirs.values())


def _limits(group: JobCgroup) -> tuple[int, int]:
    support: Support = group.support
    if support.version == 2:
        d = group.dirs["unified"]
        return int((d / "memory.max").read_text()), int((d / "pids.max").read_text())
    return (
        int((group.dirs["memory"] / "memory.limit_in_bytes").read_text()),
        int((group.dirs["pids"] / "pids.max").read_text()),
    )


@needs_cgroups
def test_a_job_cgroup_has_its_budget_and_an_unprivileged_child_joins_it(group: JobCgroup) -> None:
    assert _limits(group) == (64 * MiB, 8)
    fds = group.open_join_fds()  # opened here, as the service does for a zygote
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            if os.geteuid() == 0:
                os.setresgid(65534, 65534, 65534)
                os.setresuid(65534, 65534, 65534)
            for fd in fds:
                os.write(fd, b"0")
            time.sleep(30)
        finally:
            os._exit(0)
    for fd in fds:
        os.close(fd)
    try:
        for _ in range(500):  # poll: the child joins as its first step
            if group.pids() == {pid}:
                break
            time.sleep(0.01)
        assert group.pids() == {pid}
        assert group.kill_all()
        _, status = os.waitpid(pid, 0)
        assert os.WTERMSIG(status) == signal.SIGKILL
        assert group.pids() == set()
    finally:
        with contextlib.suppress(ProcessLookupError, ChildProcessError):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)


@needs_cgroups
def test_kill_all_reaches_setsid_leftovers_and_memory_kills_are_counted(group: JobCgroup) -> None:
    # A process that joins, starts a setsid'd grandchild, then fills memory past the budget.
    script = (
        "import os, subprocess, sys, time\n"
        "for path in sys.argv[1:]:\n"
        "    open(path, 'w').write('0')\n"
        "subprocess.Popen(['sleep', '300'], start_new_session=True)\n"
        "block = bytearray(b'x') * (200 * 1024 * 1024)\n"
        "time.sleep(30)\n"
    )
    proc = subprocess.Popen(["/usr/bin/python3", "-c", script, *map(str, group.procs_files())])
    assert proc.wait(timeout=30) == -signal.SIGKILL  # the memory killer, not the budget's end
    assert group.oom_kills() >= 1
    left = group.pids()
    assert len(left) == 1  # the grandchild, in its own session, still in the job's cgroup
    assert group.kill_all()
    assert group.pids() == set()


async def _run(box: Sandbox, code: str, tests: str) -> ExecutionVerdict:
    return await run_tests(box, code=code, plan=build_plan(tests, "f"), entry_point="f")


BACKENDS = [
    pytest.param("zygote", marks=pytest.mark.skipif(not BWRAP_OK, reason=BWRAP_WHY)),
    "process",
]
# Room for the 20 processes under RLIMIT_NPROC, which counts every process of the sandbox
# uid on the machine (other services' jobs too): the memory budget is what must stop them.
MEMORY_SETTINGS = SETTINGS.model_copy(update={"max_processes": 400})


async def _box(name: str, settings: SandboxSettings) -> Sandbox:
    cls = {"zygote": ZygoteSandbox, "process": ProcessSandbox}[name]
    sandbox = cls(settings)
    await sandbox.start()
    return sandbox


@pytest.fixture(params=BACKENDS)
async def box(request: pytest.FixtureRequest) -> AsyncIterator[Sandbox]:
    sandbox = await _box(request.param, SETTINGS)
    yield sandbox
    await sandbox.aclose()


@pytest.fixture(params=BACKENDS)
async def memory_box(request: pytest.FixtureRequest) -> AsyncIterator[Sandbox]:
    sandbox = await _box(request.param, MEMORY_SETTINGS)
    yield sandbox
    await sandbox.aclose()


def _pid(box: Sandbox) -> int | None:
    if isinstance(box, ZygoteSandbox) and box._zygotes[0].proc is not None:
        return box._zygotes[0].proc.pid
    return None


async def _still_serving(box: Sandbox, pid: int | None) -> None:
    verdict = await _run(box, "def f(x):\n    return x + 1\n", "assert f(1) == 2\n")
    assert verdict.status == "ok" and verdict.passed == 1, verdict
    assert _pid(box) == pid


MEMORY_HOG = (
    "import os, time\n"
    "def f():\n"
    "    kids = []\n"
    "    for _ in range(20):\n"
    "        pid = os.fork()\n"
    "        if pid == 0:\n"
    "            block = bytearray(b'\\x01') * (48 * 1024 * 1024)\n"
    "            time.sleep(3)  # long enough to overlap on a loaded machine\n"
    "            os._exit(0 if block[-1] == 1 else 1)\n"
    "        kids.append(pid)\n"
    "    return [os.waitstatus_to_exitcode(os.waitpid(p, 0)[1]) for p in kids]\n"
)


@needs_cgroups
async def test_memory_across_twenty_processes_is_one_budget(memory_box: Sandbox) -> None:
    box = memory_box
    pid = _pid(box)
    verdict = await _run(box, MEMORY_HOG, "assert f() == [0] * 20\n")
    assert verdict.passed == 0
    assert verdict.violation == "memory_limit" and verdict.status == "violation", verdict
    await _still_serving(box, pid)
    if isinstance(box, ZygoteSandbox):  # the memory went with the job
        cgroup = box._zygotes[0].cgroup
        assert cgroup is not None and cgroup.pids() == set()
        assert cgroup.usage() < SETTINGS.memory_mb * MiB // 2


async def test_forks_past_the_process_budget_fail(box: Sandbox) -> None:
    code = (
        "import os, time\n"
        "def f():\n"
        "    made = 0\n"
        "    for _ in range(120):\n"
        "        try:\n"
        "            pid = os.fork()\n"
        "        except OSError:\n"
        "            break\n"
        "        if pid == 0:\n"
        "            time.sleep(3)\n"
        "            os._exit(0)\n"
        "        made += 1\n"
        "    return made\n"
    )
    pid = _pid(box)
    verdict = await _run(box, code, "assert f() == 120\n")
    assert verdict.passed == 0 and verdict.tests[0].status == "failed", verdict.tests
    assert "expected == 120" in verdict.tests[0].message
    await _still_serving(box, pid)


@needs_cgroups
def test_job_cgroups_of_a_service_that_died_are_removed() -> None:
    assert SUPPORT is not None
    gone = subprocess.Popen(["true"])
    gone.wait()  # a pid no service holds any more
    parent = next(iter(SUPPORT.parents.values()))
    stale = parent / f"selfheal-{gone.pid}-zygote0"
    stale.mkdir()
    busy = parent / f"selfheal-{gone.pid}-zygote1"  # a dead pid, but processes inside
    busy.mkdir()
    sleeper = subprocess.Popen(["sleep", "60"])
    (busy / "cgroup.procs").write_text(str(sleeper.pid))
    mine = JobCgroup.create("alive", 16 * MiB, 4, SUPPORT)  # this service's own: kept
    try:
        assert cgroups.remove_stale(SUPPORT) >= 1
        assert not stale.exists()
        assert busy.exists() and sleeper.poll() is None  # never killed on a guess
        assert all(d.exists() for d in mine.dirs.values())
    finally:
        sleeper.kill()
        sleeper.wait()
        mine.remove()
        JobCgroup(SUPPORT, {"x": busy}).remove()
        if stale.exists():
            stale.rmdir()


def test_a_memory_kill_is_scored_as_a_memory_limit_not_unsafe_code() -> None:
    from selfheal.services.evaluator.scoring import _execution_gates

    def verdict(violation: str) -> ExecutionVerdict:
        return ExecutionVerdict(
            status="violation",
            backend="zygote",
            duration_ms=1.0,
            loaded=True,
            load_error=None,
            entry_point_defined=True,
            violation=violation,
        )

    assert _execution_gates(verdict("memory_limit"), "provided", "f", None) == [
        ("memory_limit", "runtime_error")
    ]
    assert _execution_gates(verdict("killed"), "provided", "f", None) == [
        ("sandbox_violation", "unsafe_code")
    ]
