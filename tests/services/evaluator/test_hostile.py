"""Hostile programs and forged verdicts sent to a real evaluator process over HTTP.

Each program's tests pass only if the attack worked (the expected value is the secret,
"connected", the list of files written...), so containment shows as a failing score;
every case also checks the evaluator keeps answering. The evaluator runs with
SANDBOX_MIN_ISOLATION=bwrap: on a machine without bubblewrap it runs no code (503) and
these tests fail rather than pass on weaker isolation.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.services.evaluator._process import evaluator_process

SECRET = "sk-test-" + uuid.uuid4().hex
GOOD = "def add(a: int, b: int) -> int:\n    return a + b\n"


@pytest.fixture(scope="module")
def evaluator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    directory = tmp_path_factory.mktemp("evaluator")
    with evaluator_process(
        directory,
        LLM_API_KEY=SECRET,  # a secret the service holds in its environment and memory
        SELFHEAL_TEST_SECRET=SECRET,
    ) as (client, _):
        yield client


def evaluate(client: httpx.Client, code: str, tests: str, entry_point: str) -> dict[str, Any]:
    resp = client.post(
        "/api/v1/evaluate",
        json={
            "request_id": uuid.uuid4().hex[:16],
            "task_type": "code_generation",
            "user_input": f"Write {entry_point}",
            "worker_output": f"```python\n{code}```",
            "tests": tests,
            "entry_point": entry_point,
        },
    )
    assert resp.status_code == 200, resp.text
    data: dict[str, Any] = resp.json()
    execution = data["detail"]["execution"] or {}
    observed = [execution.get("stdout", ""), execution.get("stderr", "")]
    observed += [t["message"].split(", expected ")[0] for t in execution.get("tests", [])]
    assert SECRET not in "".join(observed)  # (the tests themselves may name it)
    return data


@pytest.fixture
def still_answers(evaluator: httpx.Client) -> Iterator[None]:
    yield
    data = evaluate(evaluator, GOOD, "assert add(2, 3) == 5\n", "add")
    assert data["passed"] is True
    assert data["detail"]["execution"]["passed"] == 1


def test_ready_metrics_and_log_name_the_isolation(evaluator: httpx.Client) -> None:
    ready = evaluator.get("/ready").json()["checks"]["sandbox"]
    assert ready["backend"] == "zygote" and ready["isolation"] == "bwrap"
    assert ready["alive"] == ready["pool"] >= 1
    metrics = evaluator.get("/metrics").text
    assert 'selfheal_sandbox_isolation_level{backend="zygote",level="bwrap"} 1.0' in metrics


def test_a_correct_solution_passes(evaluator: httpx.Client) -> None:
    data = evaluate(evaluator, GOOD, "assert add(2, 3) == 5\nassert add(-1, 1) == 0\n", "add")
    assert data["passed"] is True
    assert data["detail"]["execution"]["guarantee"] == "trusted"


def test_env_secrets_cannot_be_read(evaluator: httpx.Client, still_answers: None) -> None:
    code = (
        "import os\n"
        "def steal() -> str:\n"
        "    found = [v for v in os.environ.values() if v.startswith('sk-test-')]\n"
        "    for path in ('/proc/self/environ', '/proc/1/environ', '/proc/2/environ'):\n"
        "        try:\n"
        "            found += [p for p in open(path, 'rb').read().split(b'\\0') if b'sk-test-' in p]\n"
        "        except OSError:\n"
        "            pass\n"
        "    return str(found[0]) if found else 'nothing'\n"
    )
    data = evaluate(evaluator, code, f"assert steal() == {SECRET!r}\n", "steal")
    assert data["passed"] is False
    assert data["failure_category"] == "test_failure"
    assert "returned 'nothing'" in data["detail"]["execution"]["tests"][0]["message"]


def test_parent_memory_cannot_be_read(evaluator: httpx.Client, still_answers: None) -> None:
    code = (
        "import os, re\n"
        "def scan() -> str:\n"
        "    seen = []\n"
        "    for pid in ['self'] + [p for p in os.listdir('/proc') if p.isdigit()] + ['..']:\n"
        "        try:\n"
        "            maps = open(f'/proc/{pid}/maps').read().splitlines()\n"
        "            mem = open(f'/proc/{pid}/mem', 'rb')\n"
        "        except OSError as exc:\n"
        "            seen.append(f'{pid}:{exc.errno}')\n"
        "            continue\n"
        "        for line in maps:\n"
        "            lo, hi = (int(x, 16) for x in line.split()[0].split('-'))\n"
        "            try:\n"
        "                mem.seek(lo)\n"
        "                m = re.search(rb'sk-test-[0-9a-f]{32}', mem.read(hi - lo))\n"
        "            except (OSError, OverflowError, MemoryError, ValueError):\n"
        "                continue\n"
        "            if m:\n"
        "                return m.group().decode()\n"
        "    return 'not found ' + ' '.join(seen)\n"
    )
    data = evaluate(evaluator, code, f"assert scan() == {SECRET!r}\n", "scan")
    assert data["passed"] is False
    assert data["failure_category"] == "test_failure"
    assert "not found" in data["detail"]["execution"]["tests"][0]["message"]


def test_no_network_to_a_listener_on_the_host(evaluator: httpx.Client, still_answers: None) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    accepted: list[object] = []
    listener.settimeout(5)

    def accept() -> None:
        with contextlib.suppress(OSError):
            accepted.append(listener.accept())

    thread = threading.Thread(target=accept)
    thread.start()
    code = (
        "import socket\n"
        "def dial(port: int) -> str:\n"
        "    try:\n"
        "        socket.create_connection(('127.0.0.1', port), timeout=1)\n"
        "        return 'connected'\n"
        "    except OSError as exc:\n"
        "        return type(exc).__name__\n"
    )
    data = evaluate(evaluator, code, f"assert dial({port}) == 'connected'\n", "dial")
    listener.close()
    thread.join()
    assert accepted == []
    assert data["passed"] is False
    # Contained, not gated: `import socket` is only a signal under real isolation.
    assert data["failure_category"] == "test_failure"
    assert data["detail"]["checks"]["signals"] == ["import socket"]
    assert data["detail"]["execution"]["tests"][0]["status"] == "failed"


def test_fork_bomb_is_contained(evaluator: httpx.Client, still_answers: None) -> None:
    code = (
        "import os, time\n"
        "def bomb() -> int:\n"
        "    children = 0\n"
        "    while True:\n"
        "        try:\n"
        "            if os.fork() == 0:\n"
        "                time.sleep(60)\n"
        "                os._exit(0)\n"
        "            children += 1\n"
        "        except OSError:\n"
        "            return children\n"
    )
    data = evaluate(evaluator, code, "assert bomb() > 1000\n", "bomb")
    assert data["passed"] is False
    assert data["failure_category"] == "test_failure"
    assert "os.fork()" in data["detail"]["checks"]["signals"]
    message = data["detail"]["execution"]["tests"][0]["message"]
    returned = re.search(r"returned (\d+)", message)
    assert returned is not None and int(returned[1]) < 64  # the process budget held


def test_allocating_4gb_fails(evaluator: httpx.Client, still_answers: None) -> None:
    code = "def hog() -> int:\n    return len(bytearray(4 * 1024 ** 3))\n"
    data = evaluate(evaluator, code, f"assert hog() == {4 * 1024**3}\n", "hog")
    assert data["passed"] is False
    assert data["failure_category"] == "runtime_error"
    assert "MemoryError" in data["detail"]["execution"]["tests"][0]["message"]


def test_infinite_loop_times_out(evaluator: httpx.Client, still_answers: None) -> None:
    code = "def spin(n: int) -> int:\n    while True:\n        n += 1\n"
    data = evaluate(evaluator, code, "assert spin(1) == 2\n", "spin")
    assert data["passed"] is False
    assert data["failure_category"] == "timeout"
    assert "timeout" in data["detail"]["gates"]


def test_writes_outside_the_work_dir_fail(
    evaluator: httpx.Client, still_answers: None, tmp_path: Path
) -> None:
    host_file = tmp_path / "pwned"
    # (/dev/shm is the job's own tmpfs, like its /tmp: tests/sandbox/test_backends.py)
    targets = ["/pwned", "/usr/pwned", "/dev/pwned", "/proc/pwned", str(host_file)]
    code = (
        "def scribble(paths: list) -> list:\n"
        "    done = []\n"
        "    for path in paths:\n"
        "        try:\n"
        "            with open(path, 'w') as f:\n"
        "                f.write('x')\n"
        "            done.append(path)\n"
        "        except OSError:\n"
        "            pass\n"
        "    return done\n"
    )
    tests = f"assert scribble({targets!r}) == {targets!r}\nassert scribble(['ok']) == ['ok']\n"
    data = evaluate(evaluator, code, tests, "scribble")
    statuses = [t["status"] for t in data["detail"]["execution"]["tests"]]
    assert statuses == ["failed", "passed"]  # its own work dir is writable, nothing else
    assert "returned []" in data["detail"]["execution"]["tests"][0]["message"]
    assert not host_file.exists()
    assert data["failure_category"] == "test_failure"


def test_killing_the_parent_does_not_work(evaluator: httpx.Client, still_answers: None) -> None:
    code = (
        "import os, signal\n"
        "def kill_all() -> str:\n"
        "    for pid in (os.getppid(), 1, -1, 2, 3):\n"
        "        try:\n"
        "            os.kill(pid, signal.SIGKILL)\n"
        "        except OSError:\n"
        "            pass\n"
        "    return 'alive'\n"
    )
    data = evaluate(evaluator, code, "assert kill_all() == 'dead'\n", "kill_all")
    assert data["passed"] is False
    assert data["failure_category"] == "test_failure"
    assert "os.kill()" in data["detail"]["checks"]["signals"]
    assert evaluator.get("/ready").json()["checks"]["sandbox"]["alive"] >= 1


def test_stdout_flood_is_capped_and_stopped(evaluator: httpx.Client, still_answers: None) -> None:
    code = "def shout() -> int:\n    while True:\n        print('x' * 65536)\n"
    data = evaluate(evaluator, code, "assert shout() == 1\n", "shout")
    execution = data["detail"]["execution"]
    assert data["passed"] is False
    assert data["failure_category"] == "unsafe_code"
    assert execution["violation"] == "output_limit"
    assert execution["output_truncated"] is True
    assert len(execution["stdout"]) <= 2000


def test_setsid_grandchild_does_not_outlive_the_job(
    evaluator: httpx.Client, still_answers: None
) -> None:
    marker = f"{time.time_ns() % 100000}.25"
    code = (
        "import os\n"
        "def escape() -> str:\n"
        "    r, w = os.pipe()\n"
        "    if os.fork() == 0:\n"
        "        os.setsid()\n"
        "        if os.fork() == 0:\n"
        "            os.write(w, b'up')\n"
        f"            os.execv('/usr/bin/sleep', ['sleep', '{marker}'])\n"
        "        os._exit(0)\n"
        "    return os.read(r, 2).decode()\n"
    )
    data = evaluate(evaluator, code, "assert escape() == 'up'\n", "escape")
    assert data["detail"]["execution"]["tests"][0]["status"] == "passed"  # it did start
    # Its answer was right ('up'); what matters is that nothing of it outlives the job.
    assert {"os.setsid()", "os.fork()"} <= set(data["detail"]["checks"]["signals"])
    survivors = [
        p for p in Path("/proc").iterdir() if p.name.isdigit() and _cmdline(p) == ["sleep", marker]
    ]
    assert survivors == []


def _cmdline(proc: Path) -> list[str]:
    try:
        return (proc / "cmdline").read_bytes().decode().split("\0")[:-1]
    except OSError:
        return []


FORGERIES = {
    "sys_exit_before_tests": "import sys\nsys.exit(0)\n",
    "os_exit_before_tests": "import os\nos._exit(0)\n",
    "prints_a_fake_result": (
        'print(\'{"done": true, "loaded": true, "units": {}, "observations": {}}\')\n'
        "print('4 passed, 0 failed')\n"
        "import os\nos._exit(0)\n"
    ),
    "writes_a_fake_report": (
        "import json, os\n"
        "report = {'loaded': True, 'done': True, 'entry_point_defined': True,\n"
        "          'observations': {}, 'units': {}}\n"
        "for fd in range(3, 64):\n"
        "    try:\n        os.write(fd, json.dumps(report).encode())\n"
        "    except OSError:\n        pass\n"
        "os._exit(0)\n"
    ),
    "patches_builtins_and_helpers": (
        "import builtins, math\n"
        "builtins.abs = lambda x: 0\n"
        "builtins.sorted = lambda x, **k: [1, 2, 3]\n"
        "math.isclose = lambda *a, **k: True\n"
        "def area(r):\n    return 0\n"
    ),
    "deletes_the_tests": (
        "def area(r):\n    return 0\n"
        "def check(candidate):\n    pass\n"
        "import sys\nsys.modules[__name__] = None\n"
    ),
}


@pytest.mark.parametrize("name", sorted(FORGERIES))
def test_forged_verdicts_do_not_pass(
    evaluator: httpx.Client, still_answers: None, name: str
) -> None:
    tests = (
        "import math\n"
        "def check(candidate):\n"
        "    assert math.isclose(candidate(1), 3.14159, rel_tol=1e-3)\n"
        "    assert abs(candidate(2) - 12.566) < 0.01\n"
        "    assert sorted([candidate(1), 1.0]) == [1.0, 3.14159]\n"
        "check(area)\n"
    )
    data = evaluate(evaluator, FORGERIES[name], tests, "area")
    execution = data["detail"]["execution"]
    assert data["passed"] is False
    assert execution["passed"] == 0
    # Exiting, writing to descriptors and patching builtins only show as signals: the
    # verdict fails on its own.
    assert data["failure_category"] in ("test_failure", "runtime_error")
    assert data["detail"]["gates"]
    assert data["score"] < 0.7
