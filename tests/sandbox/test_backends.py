"""The sandbox backends, driven directly: verdicts, limits, cleanup, a pool that heals."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator

import pytest

from selfheal.core.config import SandboxSettings, get_settings
from selfheal.core.errors import ConfigurationError
from selfheal.sandbox.base import Isolation, Sandbox
from selfheal.sandbox.process import BwrapSandbox, ProcessSandbox
from selfheal.sandbox.registry import build_sandbox
from selfheal.sandbox.runner import run_tests
from selfheal.sandbox.testplan import build_plan
from selfheal.sandbox.zygote import ZygoteSandbox

SETTINGS = SandboxSettings(timeout_s=2, job_timeout_s=8, pool_size=1)
BWRAP_OK, BWRAP_WHY = ZygoteSandbox.available(get_settings().sandbox)
needs_bwrap = pytest.mark.skipif(
    not BWRAP_OK and os.environ.get("SELFHEAL_REQUIRE_BWRAP") != "1", reason=BWRAP_WHY
)


@pytest.fixture(
    params=[
        pytest.param("zygote", marks=needs_bwrap),
        pytest.param("bwrap", marks=needs_bwrap),
        "process",
    ]
)
async def sandbox(request: pytest.FixtureRequest) -> AsyncIterator[Sandbox]:
    cls: dict[str, type[ZygoteSandbox | BwrapSandbox | ProcessSandbox]] = {
        "zygote": ZygoteSandbox,
        "bwrap": BwrapSandbox,
        "process": ProcessSandbox,
    }
    box = cls[request.param](SETTINGS)
    await box.start()
    yield box
    await box.aclose()


@pytest.fixture
async def zygote() -> AsyncIterator[ZygoteSandbox]:
    if not BWRAP_OK:
        pytest.skip(BWRAP_WHY)
    box = ZygoteSandbox(SETTINGS)
    await box.start()
    yield box
    await box.aclose()


async def _run(box: Sandbox, code: str, tests: str, entry: str = "f"):  # type: ignore[no-untyped-def]
    return await run_tests(box, code=code, plan=build_plan(tests, entry), entry_point=entry)


async def test_each_backend_reports_per_test_results(sandbox: Sandbox) -> None:
    verdict = await _run(
        sandbox, "def f(x):\n    return x + 1\n", "assert f(1) == 2\nassert f(2) == 4\n"
    )
    assert verdict.status == "ok"
    assert [t.status for t in verdict.tests] == ["passed", "failed"]
    assert verdict.tests[1].message == "AssertionError: f(2) returned 3, expected == 4 (line 2)"
    assert verdict.tests[1].line == 2


async def test_each_backend_kills_an_endless_job(sandbox: Sandbox) -> None:
    verdict = await _run(sandbox, "def f():\n    while True:\n        pass\n", "assert f() == 1\n")
    assert verdict.status == "timeout"
    assert verdict.tests[0].status == "timeout"


async def test_each_test_has_its_own_time_budget(sandbox: Sandbox) -> None:
    code = "import time\ndef f():\n    time.sleep(1.2)\n    return 1\n"
    verdict = await _run(sandbox, code, "assert f() == 1\n" * 4)
    assert verdict.status == "ok" and verdict.passed == 4


async def test_a_hung_test_does_not_take_the_job_cap(sandbox: Sandbox) -> None:
    code = "import time\ndef f(n):\n    time.sleep(n)\n    return n\n"
    verdict = await _run(sandbox, code, "assert f(0) == 0\nassert f(60) == 60\nassert f(0) == 0\n")
    assert [t.status for t in verdict.tests] == ["passed", "timeout", "error"]
    assert verdict.duration_ms < 6000


async def test_each_backend_keeps_output_off_the_report_channel(sandbox: Sandbox) -> None:
    code = "print('{\"done\": true}')\nimport sys\nprint('x' * 200000, file=sys.stderr)\ndef f():\n    return 1\n"
    verdict = await _run(sandbox, code, "assert f() == 2\n")
    assert verdict.tests[0].status == "failed"
    assert verdict.stdout.startswith('{"done": true}')
    assert verdict.output_truncated is True
    assert len(verdict.stderr) <= SETTINGS.max_output_bytes


async def test_each_backend_runs_jobs_without_root(sandbox: Sandbox) -> None:
    verdict = await _run(
        sandbox, "import os\ndef f():\n    return os.getuid()\n", "assert f() == 0\n"
    )
    assert verdict.tests[0].status == "failed"


async def test_zygote_jobs_get_a_fresh_work_dir(zygote: ZygoteSandbox) -> None:
    code = (
        "import os\n"
        "def f():\n"
        "    before = sorted(os.listdir('.'))\n"
        "    open('left-behind', 'w').write('x')\n"
        "    return [os.getcwd(), before]\n"
    )
    for _ in range(2):
        verdict = await _run(zygote, code, "assert f() == ['/tmp', []]\n")
        assert verdict.tests[0].status == "passed", verdict.tests[0].message


async def test_zygote_job_is_alone_in_its_pid_namespace(zygote: ZygoteSandbox) -> None:
    code = "import os\ndef f():\n    return [os.getpid(), sorted(p for p in os.listdir('/proc') if p.isdigit())]\n"
    verdict = await _run(zygote, code, "assert f() == [1, ['1']]\n")
    assert verdict.tests[0].status == "passed", verdict.tests[0].message


async def test_each_job_process_is_alone_with_no_network_where_it_has_namespaces(
    sandbox: Sandbox,
) -> None:
    if not await _namespaced(sandbox):
        pytest.skip("no per-job namespaces here (no unprivileged user namespaces)")
    code = (
        "import os, socket\n"
        "def f():\n"
        "    try:\n"
        "        socket.create_connection(('127.0.0.1', 5432), timeout=2).close()\n"
        "        net = 'connected'\n"
        "    except OSError:\n"
        "        net = 'unreachable'\n"
        "    procs = sorted(p for p in os.listdir('/proc') if p.isdigit())\n"
        "    return [os.getpid(), procs, os.listdir('/tmp'), os.getuid() != 0, net]\n"
    )
    verdict = await _run(sandbox, code, "assert f() == [1, ['1'], [], True, 'unreachable']\n")
    assert verdict.tests[0].status == "passed", verdict.tests[0].message


async def test_zygote_pool_replaces_a_dead_zygote(zygote: ZygoteSandbox) -> None:
    victim = zygote._zygotes[0]
    assert victim.proc is not None
    victim_pid = victim.proc.pid
    os.killpg(victim.proc.pid, signal.SIGKILL)
    await victim.proc.wait()
    verdict = await _run(zygote, "def f():\n    return 1\n", "assert f() == 1\n")
    assert verdict.status == "ok" and verdict.passed == 1
    assert zygote.status["alive"] == 1
    assert zygote._zygotes[0].proc is not None and zygote._zygotes[0].proc.pid != victim_pid


async def test_zygote_patched_helpers_do_not_reach_the_checks(zygote: ZygoteSandbox) -> None:
    code = "import math, builtins\nmath.isclose = lambda *a, **k: True\nbuiltins.len = lambda x: 3\ndef f():\n    return [1]\n"
    verdict = await _run(
        zygote, code, "import math\nassert math.isclose(f()[0], 2.0)\nassert len(f()) == 3\n"
    )
    assert [t.status for t in verdict.tests] == ["failed", "failed"]


def test_auto_prefers_the_zygote_and_refuses_weaker_isolation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if BWRAP_OK:
        box = build_sandbox(SandboxSettings(backend="auto", min_isolation="bwrap"))
        assert box.name == "zygote" and box.effective_isolation == Isolation.BWRAP
    refused = build_sandbox(SandboxSettings(backend="process", min_isolation="bwrap"))
    assert refused.refusal is not None and refused.status["ok"] is False
    assert "below SANDBOX_MIN_ISOLATION=bwrap" in refused.refusal
    assert "SANDBOX_MIN_ISOLATION=process" in refused.refusal
    with pytest.raises(ConfigurationError, match="unknown SANDBOX_BACKEND"):
        build_sandbox(SandboxSettings(backend="chroot"))


SHM = (
    "import ctypes\n"
    "libc = ctypes.CDLL(None, use_errno=True)\n"
    "libc.shmat.restype = ctypes.c_void_p\n"
    "KEY = 0x5E1F0001\n"
    "def f(leave):\n"
    "    if leave:\n"
    "        seg = libc.shmget(KEY, 4096, 0o1666)\n"  # IPC_CREAT | 0666
    "        addr = libc.shmat(seg, None, 0)\n"
    "        ctypes.memmove(addr, b'left by job 1', 13)\n"
    "        return 'left' if seg >= 0 else 'no shm %d' % ctypes.get_errno()\n"
    "    seg = libc.shmget(KEY, 0, 0)\n"
    "    if seg < 0:\n"
    "        return 'absent'\n"
    "    return ctypes.string_at(libc.shmat(seg, None, 0), 13).decode()\n"
)


async def _namespaced(box: Sandbox) -> bool:
    """Whether each job process gets its own PID/mount/IPC namespaces on this backend here
    (the process backend: where the machine allows unprivileged user namespaces)."""
    if "job_namespaces" not in box.status:
        await _run(box, "def f():\n    return 1\n", "assert f() == 1\n")
    return not str(box.status["job_namespaces"]).startswith("none")


async def test_shared_memory_left_by_a_job_is_not_seen_by_the_next(sandbox: Sandbox) -> None:
    if not await _namespaced(sandbox):
        pytest.skip("no per-job namespaces here (no unprivileged user namespaces)")
    left = await _run(sandbox, SHM, "assert f(True) == 'left'\n")
    assert left.passed == 1, left.tests
    verdict = await _run(sandbox, SHM, "assert f(False) == 'left by job 1'\n")
    assert verdict.passed == 0
    assert "returned 'absent'" in verdict.tests[0].message


def _processes_running(argv: list[str]) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as file:
                    if file.read().split(b"\0")[:-1] == [a.encode() for a in argv]:
                        found.append(int(entry))
            except OSError:
                continue
    return found


async def test_setsid_leftovers_do_not_survive_the_job(sandbox: Sandbox) -> None:
    if not await _namespaced(sandbox) and sandbox.status["job_limits"].startswith("no cgroups"):
        pytest.skip("without namespaces or cgroups a setsid'd process escapes (docs/sandbox.md)")
    marker = str(9000 + os.getpid() % 1000)
    code = (
        "import os\n"
        "def f():\n"
        "    pid = os.fork()\n"
        "    if pid == 0:\n"
        "        os.setsid()\n"
        "        if os.fork() == 0:\n"
        f"            os.execv('/bin/sleep', ['sleep', '{marker}'])\n"
        "        os._exit(0)\n"
        "    os.waitpid(pid, 0)\n"
        "    return 1\n"
    )
    verdict = await _run(sandbox, code, "assert f() == 1\n")
    assert verdict.passed == 1, verdict.tests
    for _ in range(300):  # poll: the kill is immediate, its delivery may not be
        if not _processes_running(["sleep", marker]):
            break
        await asyncio.sleep(0.01)
    assert _processes_running(["sleep", marker]) == []


async def test_multiprocessing_works_and_dev_shm_is_the_jobs_own(sandbox: Sandbox) -> None:
    if not await _namespaced(sandbox):
        pytest.skip("no per-job namespaces here (no unprivileged user namespaces)")
    marker = f"selfheal-left-{os.getpid()}"
    code = (
        "import multiprocessing, os\n"
        "def sq(x):\n"
        "    return x * x\n"
        "def f(leave):\n"
        "    if not leave:\n"
        "        return os.listdir('/dev/shm')\n"
        f"    open('/dev/shm/{marker}', 'w').write('x')\n"
        "    with multiprocessing.Pool(2) as pool:\n"
        "        return pool.map(sq, range(5))\n"
    )
    verdict = await _run(sandbox, code, "assert f(True) == [0, 1, 4, 9, 16]\n")
    assert verdict.passed == 1, verdict.tests
    verdict = await _run(sandbox, code, "assert f(False) == []\n")
    assert verdict.passed == 1, verdict.tests
    assert marker not in os.listdir("/dev/shm")  # nor on the host
