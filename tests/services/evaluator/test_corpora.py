"""The corpora (tests/corpora/) against a real evaluator process over HTTP, on bubblewrap.

- ``correct/``: ordinary correct programs with their tests, as models and users write them.
  Every one must pass (verdict passed, score >= 0.7), none may get a 5xx.
- ``hostile/``: reward hacks and attacks on the sandbox. None may pass, none may get a 5xx;
  after each, the evaluator still answers and nothing of the job remains on the host: no
  process, no file in /tmp, /var/tmp or /dev/shm, no SysV shared-memory segment, no memory.

Each corpus file is TOML: ``code``, ``tests``, ``entry_point`` (and ``description``; hostile
files also ``attack`` and optionally ``repeat``, to run a job that looks for what an
earlier job left behind several times). ``{MARKER}`` in a hostile program is replaced by a
token unique to the run, which the leftover checks look for.

The evaluator runs with ``SANDBOX_MIN_ISOLATION=bwrap`` (it refuses to start without it)
and the default policy: under real isolation dangerous constructs are signals, not gates,
so the harness and the sandbox alone must hold here.
"""

from __future__ import annotations

import os
import stat
import subprocess
import time
import tomllib
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from selfheal.core.config import get_settings
from selfheal.sandbox.zygote import ZygoteSandbox
from tests.services.evaluator._process import evaluator_process

CORPORA = Path(__file__).resolve().parents[2] / "corpora"
CORRECT = sorted((CORPORA / "correct").glob("*.toml"))
HOSTILE = sorted((CORPORA / "hostile").glob("*.toml"))
MARKER = "shmark" + uuid.uuid4().hex[:10]
JOB_UID = 65534  # SandboxSettings.uid: jobs run as this when the service is root
BWRAP_OK, BWRAP_WHY = ZygoteSandbox.available(get_settings().sandbox)
pytestmark = pytest.mark.skipif(
    not BWRAP_OK and os.environ.get("SELFHEAL_REQUIRE_BWRAP") != "1", reason=BWRAP_WHY
)


def load(path: Path) -> dict[str, Any]:
    data = tomllib.loads(path.read_text())
    for key in ("code", "tests"):
        data[key] = data[key].replace("{MARKER}", MARKER)
    return data


def test_the_corpora_are_big_enough_and_well_formed() -> None:
    assert len(CORRECT) >= 100 and len(HOSTILE) >= 40
    for path in CORRECT + HOSTILE:
        data = load(path)
        assert {"code", "tests", "entry_point", "description"} <= data.keys(), path.name
        compile(data["code"], path.name, "exec")
        compile(data["tests"], path.name, "exec")
    assert all("attack" in load(p) for p in HOSTILE)


@pytest.fixture(scope="module")
def evaluator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, int]]:
    directory = tmp_path_factory.mktemp("corpora")
    with evaluator_process(directory, SANDBOX_POOL_SIZE="2") as (client, proc):
        assert client.get("/ready").json()["checks"]["sandbox"]["isolation"] == "bwrap"
        yield client, proc.pid


def post(client: httpx.Client, program: dict[str, Any]) -> httpx.Response:
    entry = program["entry_point"]
    return client.post(
        "/api/v1/evaluate",
        json={
            "request_id": uuid.uuid4().hex[:16],
            "task_type": "code_generation",
            "user_input": f"Write {entry}: {program['description']}",
            "worker_output": f"Here is the code:\n\n```python\n{program['code']}```\n",
            "tests": program["tests"],
            "entry_point": entry,
        },
    )


def _outcome(resp: httpx.Response) -> str:
    if resp.status_code != 200:
        return f"HTTP {resp.status_code}: {resp.text[:300]}"
    data = resp.json()
    execution = data["detail"]["execution"] or {}
    bad = [
        f"{t['status']}/{t['guarantee']}: {t['name'][:60]} | {t['message'][:200]}"
        for t in execution.get("tests", [])
        if t["status"] != "passed"
    ]
    return (
        f"passed={data['passed']} score={data['score']} category={data['failure_category']}"
        f" gates={data['detail']['gates']} execution={execution.get('status')}"
        f" load_error={execution.get('load_error')} {bad[:5]}"
        f" rule_parts={data['detail']['checks'].get('rule_parts')}"
        f" judge={data['detail']['judge']}"
    )


@pytest.fixture(scope="module")
def correct_results(evaluator: tuple[httpx.Client, int]) -> dict[str, httpx.Response]:
    """Every correct program evaluated once, several at a time."""
    client, _ = evaluator
    with ThreadPoolExecutor(max_workers=6) as pool:
        responses = pool.map(lambda p: post(client, load(p)), CORRECT)
        return {path.name: resp for path, resp in zip(CORRECT, responses, strict=True)}


@pytest.mark.parametrize("path", CORRECT, ids=[p.stem for p in CORRECT])
def test_correct_program_passes(path: Path, correct_results: dict[str, httpx.Response]) -> None:
    resp = correct_results[path.name]
    assert resp.status_code == 200, _outcome(resp)
    data = resp.json()
    assert data["passed"] is True, _outcome(resp)
    assert data["score"] >= 0.7, _outcome(resp)
    assert data["detail"]["execution"]["trusted_passed"] >= 1


# --------------------------------------------------------------------------- leftovers


@dataclass(frozen=True)
class HostState:
    processes: dict[int, str]  # pid -> description, of processes that are not zombies
    files: frozenset[str]
    segments: frozenset[str]
    shmem_kb: int
    tree_rss_kb: int


def _read(path: str) -> str:
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def _status(pid: int) -> dict[str, str]:
    fields = {}
    for line in _read(f"/proc/{pid}/status").splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return fields


def _processes(root: int) -> tuple[dict[int, str], int]:
    """Non-zombie processes that concern the run, and the total RSS of the evaluator's tree.

    They are: the evaluator's descendants other than its sandboxes' bwrap and zygote
    processes; any process of the job uid that has no bwrap ancestor (escaped a sandbox,
    whichever service started it); any process whose command line or environment names
    the marker."""
    parents: dict[int, int] = {}
    info: dict[int, dict[str, str]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            status = _status(int(entry))
            if status:
                info[int(entry)] = status
                parents[int(entry)] = int(status.get("PPid", "0") or 0)

    def ancestors(pid: int) -> list[int]:
        chain = []
        for _ in range(64):
            pid = parents.get(pid, 0)
            if pid <= 1:
                break
            chain.append(pid)
        return chain

    def name(pid: int) -> str:
        return info.get(pid, {}).get("Name", "")

    found: dict[int, str] = {}
    rss = 0
    for pid, status in info.items():
        if status.get("State", "").startswith(("Z", "X")):
            continue
        chain = ancestors(pid)
        tree = root in chain
        if tree or pid == root:
            rss += int((status.get("VmRSS", "0 kB").split() or ["0"])[0])
        sandbox_part = name(pid) == "bwrap" or name(parents.get(pid, 0)) == "bwrap"
        uid = int((status.get("Uid", "0").split() or ["0"])[0])
        escaped = uid == JOB_UID and not any(name(p) == "bwrap" for p in [pid, *chain])
        cmdline = _read(f"/proc/{pid}/cmdline").replace("\0", " ").strip()
        marked = MARKER in cmdline or MARKER in _read(f"/proc/{pid}/environ")
        if (tree and not sandbox_part) or escaped or marked:
            found[pid] = f"{pid} uid={uid} {status.get('Name')} [{cmdline[:120]}]"
    return found, rss


def _files() -> frozenset[str]:
    """Entries (two levels deep) of the host's shared temporary directories that carry the
    marker in their name or (files of the job uid) in their first 64 KB. Other services on
    the machine leave files of the job uid there too, so the marker is what names ours:
    every hostile program that writes files writes it."""
    out = set()
    for top in ("/tmp", "/var/tmp", "/dev/shm"):
        for base, dirs, names in os.walk(top):
            if base[len(top) :].count("/") >= 2:
                dirs[:] = []
            for name in dirs + names:
                path = os.path.join(base, name)
                if MARKER in name:
                    out.add(path)
                    continue
                try:
                    info = os.lstat(path)
                    if info.st_uid == JOB_UID and stat.S_ISREG(info.st_mode):
                        with open(path, "rb") as f:
                            if MARKER.encode() in f.read(65536):
                                out.add(path)
                except OSError:
                    continue
    return frozenset(out)


def _segments() -> frozenset[str]:
    """SysV shared-memory segments of the host's IPC namespace (key, id, owner)."""
    try:
        text = subprocess.run(["ipcs", "-m"], capture_output=True, text=True, check=False).stdout
    except OSError:
        return frozenset()
    rows = [line.split() for line in text.splitlines()]
    return frozenset(" ".join(r[:3]) for r in rows if len(r) >= 5 and r[0].startswith("0x"))


def _shmem_kb() -> int:
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("Shmem:"):
            return int(line.split()[1])
    return 0


def host_state(root: int) -> HostState:
    processes, rss = _processes(root)
    return HostState(processes, _files(), _segments(), _shmem_kb(), rss)


def leftovers(before: HostState, root: int, wait_s: float = 6.0) -> list[str]:
    """What the job left, polling a while (the sandbox reaps asynchronously, and other
    engineers' short-lived jobs on this machine come and go)."""
    deadline = time.monotonic() + wait_s
    while True:
        now = host_state(root)
        found = [f"process {d}" for pid, d in now.processes.items() if pid not in before.processes]
        found += [f"file {f}" for f in now.files - before.files]
        found += [f"shm segment {s}" for s in now.segments - before.segments]
        if now.shmem_kb - before.shmem_kb > 256 * 1024:
            found.append(f"shared memory grew by {(now.shmem_kb - before.shmem_kb) // 1024} MB")
        if now.tree_rss_kb - before.tree_rss_kb > 256 * 1024:
            grown = (now.tree_rss_kb - before.tree_rss_kb) // 1024
            found.append(f"the evaluator's processes grew by {grown} MB")
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.25)


@pytest.mark.parametrize("path", HOSTILE, ids=[p.stem for p in HOSTILE])
def test_hostile_program_does_not_pass_and_leaves_nothing(
    path: Path, evaluator: tuple[httpx.Client, int]
) -> None:
    client, root = evaluator
    program = load(path)
    before = host_state(root)
    for _ in range(int(program.get("repeat", 1))):
        resp = post(client, program)
        assert resp.status_code == 200, _outcome(resp)
        data = resp.json()
        assert data["passed"] is False, _outcome(resp)
        assert data["score"] < 0.7, _outcome(resp)
    assert leftovers(before, root) == []
    assert client.get("/health").status_code == 200
