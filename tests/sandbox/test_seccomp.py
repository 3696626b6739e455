"""The job seccomp filter: installed in a forked child here, then attacked from inside jobs.

Each hostile job's test passes only if the attack worked (the expected value is what a
successful attack returns), so containment shows as a failing unit; after every attack a
correct job must still pass on the same zygote (same pid: it kept serving).
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import platform
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from selfheal.core.config import SandboxSettings, get_settings
from selfheal.sandbox import confine, seccomp
from selfheal.sandbox.base import Sandbox
from selfheal.sandbox.process import ProcessSandbox
from selfheal.sandbox.runner import ExecutionVerdict, run_tests
from selfheal.sandbox.testplan import build_plan
from selfheal.sandbox.zygote import ZygoteSandbox

SECCOMP_OK, SECCOMP_WHY = seccomp.supported()
pytestmark = pytest.mark.skipif(
    not SECCOMP_OK and os.environ.get("SELFHEAL_REQUIRE_BWRAP") != "1", reason=SECCOMP_WHY
)
BWRAP_OK, BWRAP_WHY = ZygoteSandbox.available(get_settings().sandbox)
# RLIMIT_NPROC counts every process of the sandbox uid on the machine: leave room.
SETTINGS = SandboxSettings(timeout_s=3, job_timeout_s=10, pool_size=1, max_processes=256)
GOOD = "def f(x):\n    return x * 2\n"
NUMBERS = (
    "clone",
    "clone3",
    "unshare",
    "setns",
    "ptrace",
    "keyctl",
    "add_key",
    "bpf",
    "io_uring_setup",
    "perf_event_open",
    "userfaultfd",
    "personality",
    "mount",
    "open_tree",
    "fsopen",
    "process_vm_readv",
    "name_to_handle_at",
    "pivot_root",
    "chroot",
)


def _nr() -> dict[str, int]:
    return {name: seccomp.syscall_number(name) for name in NUMBERS}


def filtered(probe: Callable[[], Any]) -> Any:
    """Run ``probe`` in a forked child under the job filter; its JSON result."""
    program = seccomp.job_filter()
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        os.close(read_fd)
        try:
            confine.install_filter(program)
            payload = json.dumps({"ok": probe()})
        except BaseException as exc:
            payload = json.dumps({"error": repr(exc)})
        os.write(write_fd, payload.encode())
        os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as reader:
        data = json.loads(reader.read() or b"{}")
    os.waitpid(pid, 0)
    assert "ok" in data, data
    return data["ok"]


def _syscall(number: int, *args: int) -> tuple[int, int]:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    ctypes.set_errno(0)
    result = int(libc.syscall(number, *(ctypes.c_long(a) for a in args)))
    return result, ctypes.get_errno()


def test_the_filter_refuses_escapes_with_eperm() -> None:
    nr = _nr()

    def probe() -> dict[str, tuple[int, int]]:
        return {
            "unshare(NEWUSER)": _syscall(nr["unshare"], 0x10000000),
            "unshare(0)": _syscall(nr["unshare"], 0),
            "setns": _syscall(nr["setns"], 0, 0),
            "clone(NEWUSER)": _syscall(nr["clone"], 0x10000000 | 17, 0, 0, 0, 0),
            "clone(NEWNET)": _syscall(nr["clone"], 0x40000000 | 17, 0, 0, 0, 0),
            "mount": _syscall(nr["mount"], 0, 0, 0, 0, 0),
            "open_tree": _syscall(nr["open_tree"], -100, 0, 0),
            "fsopen": _syscall(nr["fsopen"], 0, 0),
            "pivot_root": _syscall(nr["pivot_root"], 0, 0),
            "chroot": _syscall(nr["chroot"], 0),
            "ptrace(TRACEME)": _syscall(nr["ptrace"], 0, 0, 0, 0),
            "process_vm_readv": _syscall(nr["process_vm_readv"], os.getppid(), 0, 0, 0, 0, 0),
            "keyctl": _syscall(nr["keyctl"], 0, 0, 0, 0, 0),
            "add_key": _syscall(nr["add_key"], 0, 0, 0, 0, 0),
            "bpf": _syscall(nr["bpf"], 0, 0, 0),
            "io_uring_setup": _syscall(nr["io_uring_setup"], 8, 0),
            "perf_event_open": _syscall(nr["perf_event_open"], 0, 0, -1, -1, 0),
            "userfaultfd": _syscall(nr["userfaultfd"], 0),
            "name_to_handle_at": _syscall(nr["name_to_handle_at"], -100, 0, 0, 0, 0),
            "personality(ADDR_NO_RANDOMIZE)": _syscall(nr["personality"], 0x0040000),
            "personality(PER_LINUX32)": _syscall(nr["personality"], 0x0008),
            "personality(1<<32)": _syscall(nr["personality"], 1 << 32),
        }

    results = filtered(probe)
    assert {name: tuple(r) for name, r in results.items()} == {
        name: (-1, errno.EPERM) for name in results
    }


def test_clone3_answers_enosys_so_glibc_falls_back_to_clone() -> None:
    nr = _nr()
    assert tuple(filtered(lambda: _syscall(nr["clone3"], 0, 0))) == (-1, errno.ENOSYS)


def test_ordinary_work_still_runs_under_the_filter() -> None:
    nr = _nr()

    def probe() -> dict[str, Any]:
        import subprocess

        box: list[int] = []
        thread = threading.Thread(target=lambda: box.append(41 + 1))
        thread.start()
        thread.join()
        pid = os.fork()
        if pid == 0:
            os._exit(7)
        _, status = os.waitpid(pid, 0)
        return {
            "echo": subprocess.run(["echo", "hi"], capture_output=True, text=True).stdout,
            "thread": box,
            "fork": os.waitstatus_to_exitcode(status),
            "personality(query)": _syscall(nr["personality"], 0xFFFFFFFF)[0],
            "personality(0)": _syscall(nr["personality"], 0)[0],
        }

    assert filtered(probe) == {
        "echo": "hi\n",
        "thread": [42],
        "fork": 7,
        "personality(query)": 0,
        "personality(0)": 0,
    }


def test_the_filter_is_built_from_libseccomp_numbers() -> None:
    program = seccomp.job_filter()
    assert len(program) % 8 == 0 and 0 < len(program) // 8 <= 4096
    assert seccomp.syscall_number("clone") > 0
    with pytest.raises(seccomp.SeccompUnavailable, match="no syscall"):
        seccomp.syscall_number("no_such_syscall")


# --- attacks from inside jobs -------------------------------------------------------------


@pytest.fixture(
    params=[
        pytest.param("zygote", marks=pytest.mark.skipif(not BWRAP_OK, reason=BWRAP_WHY)),
        "process",
    ]
)
async def box(request: pytest.FixtureRequest) -> AsyncIterator[Sandbox]:
    cls = {"zygote": ZygoteSandbox, "process": ProcessSandbox}[request.param]
    sandbox = cls(SETTINGS)
    await sandbox.start()
    yield sandbox
    await sandbox.aclose()


async def _run(box: Sandbox, code: str, tests: str) -> ExecutionVerdict:
    return await run_tests(box, code=code, plan=build_plan(tests, "f"), entry_point="f")


async def _still_serving(box: Sandbox, pid_before: int | None) -> None:
    verdict = await _run(box, GOOD, "assert f(2) == 4\n")
    assert verdict.status == "ok" and verdict.passed == 1, verdict
    if isinstance(box, ZygoteSandbox):
        proc = box._zygotes[0].proc
        assert proc is not None and proc.pid == pid_before


def _zygote_pid(box: Sandbox) -> int | None:
    if isinstance(box, ZygoteSandbox):
        proc = box._zygotes[0].proc
        return proc.pid if proc is not None else None
    return None


ATTACKS = {
    # a nested user namespace, then a tmpfs of its own (memory past every limit)
    "unshare_and_mount": (
        "import ctypes\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "def f():\n"
        "    if libc.unshare(0x10000000 | 0x00020000) != 0:\n"
        "        return 'refused %d' % ctypes.get_errno()\n"
        "    if libc.mount(b'none', b'/tmp', b'tmpfs', 0, b'size=1g') != 0:\n"
        "        return 'no mount %d' % ctypes.get_errno()\n"
        "    return 'mounted'\n",
        "assert f() == 'mounted'\n",
    ),
    "unshare_binary": (
        "import subprocess\n"
        "def f():\n"
        "    done = subprocess.run(['unshare', '-rm', 'true'], capture_output=True)\n"
        "    return done.returncode\n",
        "assert f() == 0\n",
    ),
    "clone_newuser": (
        "import ctypes, os\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "libc.syscall.restype = ctypes.c_long\n"
        "def f():\n"
        "    pid = libc.syscall(NR['clone'], 0x10000000 | 17, 0, 0, 0, 0)\n"
        "    if pid == 0:\n"
        "        os._exit(0)\n"
        "    return 'cloned' if pid > 0 else 'refused %d' % ctypes.get_errno()\n",
        "assert f() == 'cloned'\n",
    ),
    "ptrace": (
        "import ctypes, os\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "def f():\n"
        "    pid = os.fork()\n"
        "    if pid == 0:\n"
        "        os._exit(0 if libc.ptrace(0, 0, 0, 0) == 0 else 1)\n"  # PTRACE_TRACEME
        "    return 'traced' if os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0 else 'no'\n",
        "assert f() == 'traced'\n",
    ),
    "keyctl": (
        "import ctypes\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "libc.syscall.restype = ctypes.c_long\n"
        "def f():\n"
        "    key = libc.syscall(NR['add_key'], b'user', b'leak', b'secret', 6, -3)\n"
        "    serial = libc.syscall(NR['keyctl'], 0, -3, 0)\n"  # KEYCTL_GET_KEYRING_ID
        "    return 'keyring' if key > 0 or serial > 0 else 'refused %d' % ctypes.get_errno()\n",
        "assert f() == 'keyring'\n",
    ),
    "io_uring": (
        "import ctypes\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "libc.syscall.restype = ctypes.c_long\n"
        "def f():\n"
        "    params = ctypes.create_string_buffer(120)\n"
        "    fd = libc.syscall(NR['io_uring_setup'], 8, params)\n"
        "    return 'ring' if fd >= 0 else 'refused %d' % ctypes.get_errno()\n",
        "assert f() == 'ring'\n",
    ),
    "bpf_and_perf": (
        "import ctypes\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "libc.syscall.restype = ctypes.c_long\n"
        "def f():\n"
        "    attr = ctypes.create_string_buffer(128)\n"
        "    a = libc.syscall(NR['bpf'], 0, attr, 128)\n"
        "    b = libc.syscall(NR['perf_event_open'], attr, 0, -1, -1, 0)\n"
        "    return 'open' if a >= 0 or b >= 0 else 'refused %d' % ctypes.get_errno()\n",
        "assert f() == 'open'\n",
    ),
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
async def test_attacks_from_inside_a_job_fail_and_the_zygote_keeps_serving(
    box: Sandbox, attack: str
) -> None:
    code, tests = ATTACKS[attack]
    pid = _zygote_pid(box)
    verdict = await _run(box, f"NR = {_nr()!r}\n" + code, tests)
    assert verdict.passed == 0, verdict
    assert verdict.tests and verdict.tests[0].status in ("failed", "error")
    await _still_serving(box, pid)


async def test_a_correct_program_that_forks_threads_and_runs_a_binary_passes(box: Sandbox) -> None:
    code = (
        "import os, subprocess, threading\n"
        "from concurrent.futures import ThreadPoolExecutor\n"
        "def f():\n"
        "    echo = subprocess.run(['echo', 'hi'], capture_output=True, text=True).stdout\n"
        "    with ThreadPoolExecutor(4) as pool:\n"
        "        squares = list(pool.map(lambda x: x * x, range(5)))\n"
        "    pid = os.fork()\n"
        "    if pid == 0:\n"
        "        os._exit(3)\n"
        "    return [echo, squares, os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])]\n"
    )
    verdict = await _run(box, code, "assert f() == ['hi\\n', [0, 1, 4, 9, 16], 3]\n")
    assert verdict.status == "ok" and verdict.passed == 1, verdict.tests


def test_the_zygote_backends_refuse_without_the_filter(monkeypatch: pytest.MonkeyPatch) -> None:
    from selfheal.sandbox.process import BwrapSandbox

    if not BWRAP_OK:
        pytest.skip(BWRAP_WHY)
    monkeypatch.setattr(seccomp, "supported", lambda: (False, "libseccomp is not usable"))
    for backend in (ZygoteSandbox, BwrapSandbox):
        ok, why = backend.available(get_settings().sandbox)
        assert not ok and why == "the job seccomp filter is unavailable: libseccomp is not usable"


def test_an_architecture_the_filter_cannot_check_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(platform, "machine", lambda: "s390x")
    with pytest.raises(seccomp.SeccompUnavailable, match="not supported on this architecture"):
        seccomp._build()
