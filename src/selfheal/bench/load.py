"""Throughput and the system's own cost per request, against the machine's floor
(`selfheal bench load`).

In one run: the system (manager, worker, evaluator as processes, the offline model, so
the LLM costs ~0 and what is measured is selfheal itself) and the floor chain
(``selfheal.bench.floor``: three bare FastAPI hops, one INSERT, one fork) on the same
database, driven by wrk (one thread, a fixed number of requests per concurrency level,
catalog requests with their tests), one after the other at each level. Reported per
system and level: requests/s, p50/p95/p99, errors, CPU ms per request per service
(utime+stime from /proc, each service with its descendants: the evaluator's zygotes
count), RSS per service before and after, seconds from process start to /health; and the
ratio of the system's requests/s to the floor's.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from selfheal.bench.floor import HOPS, drop_table
from selfheal.llm.providers.offline.catalog import TASKS
from selfheal.stack import Stack, StackConfig

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")

# Goals (issue 11): 2 cores, PostgreSQL, offline model.
GOAL_RATIO_AT_16 = 0.7
GOAL_P50_MS_AT_1 = 10.0
GOAL_RSS_MB = 90.0
GOAL_START_S = 1.5


def _cpu_seconds(pid: int) -> float:
    """CPU of a process and of its children it has reaped (utime + stime + cutime +
    cstime): the evaluator's and the floor's per-job processes are gone by the time we
    look, and their CPU is in their parent's cutime/cstime."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / CLK_TCK


def _rss_mb(pid: int) -> float:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE / 1e6


def _children() -> dict[int, list[int]]:
    """Every process's children, from one scan of /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    return children


def _tree(pid: int, children: dict[int, list[int]]) -> list[int]:
    """A process and its descendants (the evaluator's sandbox helpers count as its cost)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def _usage(pid: int, children: dict[int, list[int]]) -> dict[str, float]:
    """CPU seconds of the process tree, RSS of the process and of its tree."""
    cpu = tree_rss = 0.0
    for p in _tree(pid, children):
        with contextlib.suppress(OSError):
            cpu += _cpu_seconds(p)
            tree_rss += _rss_mb(p)
    try:
        rss = _rss_mb(pid)
    except OSError:
        rss = 0.0
    return {"cpu_s": cpu, "rss_mb": rss, "tree_rss_mb": tree_rss}


_LUA = """
local bodies = {%(bodies)s}
local i = 0
passed = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  i = i + 1
  return wrk.format(nil, "/api/v1/request", nil, bodies[(i %% #bodies) + 1])
end
response = function(status, headers, body)
  if string.find(body, '"evaluation_passed":true', 1, true) then passed = passed + 1 end
end
local threads = {}
setup = function(thread) table.insert(threads, thread) end
done = function(summary, latency, requests)
  local p = 0
  for _, t in ipairs(threads) do p = p + t:get("passed") end
  local e = summary.errors
  io.write(string.format('SELFHEAL-WRK {"requests":%%d,"duration_us":%%d,"passed":%%d,' ..
    '"errors":{"connect":%%d,"read":%%d,"write":%%d,"status":%%d,"timeout":%%d},' ..
    '"p50_us":%%d,"p95_us":%%d,"p99_us":%%d,"max_us":%%d}\\n',
    summary.requests, summary.duration, p, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max))
end
"""


def _lua_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'"


def _script(directory: Path) -> Path:
    bodies = [
        json.dumps({"user_input": t.request, "tests": t.tests, "entry_point": t.entry_point})
        for t in TASKS
    ]
    path = directory / "load.lua"
    path.write_text(_LUA % {"bodies": ", ".join(_lua_string(b) for b in bodies)})
    return path


def wrk_binary() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise RuntimeError("selfheal bench load drives the system with wrk: apt-get install wrk")
    return found


def _wrk(url: str, script: Path, *, concurrency: int, seconds: int) -> dict[str, Any]:
    out = subprocess.run(
        [
            wrk_binary(),
            "-t1",
            f"-c{concurrency}",
            f"-d{seconds}s",
            "--timeout",
            "60s",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 120,
        check=True,
    )
    line = next(x for x in out.stdout.splitlines() if x.startswith("SELFHEAL-WRK "))
    return dict(json.loads(line.split(" ", 1)[1]))


@dataclass
class Chain:
    """Three processes serving one request shape; ``front`` takes the requests."""

    name: str
    url: str
    pids: dict[str, int]
    start_s: dict[str, float]
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def usage(self) -> dict[str, dict[str, float]]:
        children = _children()
        return {hop: _usage(pid, children) for hop, pid in self.pids.items()}


def _start_floor(database_url: str, base_port: int) -> Chain:
    ports = {hop: base_port + i for i, hop in enumerate(HOPS)}
    procs: dict[str, subprocess.Popen[bytes]] = {}
    spawned: dict[str, float] = {}
    for hop in reversed(HOPS):  # back first, so each hop's next is already listening
        nxt = {"front": "middle", "middle": "back"}.get(hop)
        cmd = [sys.executable, "-m", "selfheal.bench.floor", hop, "--port", str(ports[hop])]
        if nxt:
            cmd += ["--next", f"http://127.0.0.1:{ports[nxt]}/api/v1/request"]
        if hop == "front":
            cmd += ["--database-url", database_url]
        spawned[hop] = time.monotonic()
        procs[hop] = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    start_s: dict[str, float] = {}
    deadline = time.monotonic() + 60
    while len(start_s) < len(HOPS):
        for hop in HOPS:
            if hop in start_s:
                continue
            if procs[hop].poll() is not None:
                raise RuntimeError(f"the floor's {hop} exited with {procs[hop].returncode}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{ports[hop]}/health", timeout=1).is_success:
                    start_s[hop] = time.monotonic() - spawned[hop]
        if time.monotonic() > deadline:
            raise RuntimeError("the floor chain did not start")
        time.sleep(0.02)
    return Chain(
        name="floor",
        url=f"http://127.0.0.1:{ports['front']}",
        pids={h: p.pid for h, p in procs.items()},
        start_s=start_s,
        procs=list(procs.values()),
    )


def _stop(chain: Chain) -> None:
    for proc in chain.procs:
        proc.terminate()
    for proc in chain.procs:
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def _level(chain: Chain, script: Path, *, concurrency: int, requests: int) -> dict[str, Any]:
    """A warm-up that also measures the rate, then a timed run sized to ``requests``
    (wrk runs for a duration, so the count is approximate; the report has the exact one)."""
    probe = _wrk(chain.url, script, concurrency=concurrency, seconds=4)
    rate = probe["requests"] / (probe["duration_us"] / 1e6)
    seconds = max(5, min(900, round(requests / max(rate, 0.1))))
    before = chain.usage()
    result = _wrk(chain.url, script, concurrency=concurrency, seconds=seconds)
    after = chain.usage()
    n = max(1, result["requests"])
    services = {
        hop: {
            "cpu_ms_per_request": round((after[hop]["cpu_s"] - before[hop]["cpu_s"]) * 1000 / n, 2),
            "rss_mb_before": round(before[hop]["rss_mb"], 1),
            "rss_mb_after": round(after[hop]["rss_mb"], 1),
            "tree_rss_mb_after": round(after[hop]["tree_rss_mb"], 1),
        }
        for hop in chain.pids
    }
    errors = result["errors"]
    return {
        "concurrency": concurrency,
        "requests": result["requests"],
        "requests_per_s": round(result["requests"] / (result["duration_us"] / 1e6), 1),
        "latency_ms": {q: round(result[f"{q}_us"] / 1000, 2) for q in ("p50", "p95", "p99", "max")},
        "errors": sum(errors.values()),
        "error_kinds": errors,
        "passed": result["passed"],
        "services": services,
        "cpu_ms_per_request_total": round(
            sum(s["cpu_ms_per_request"] for s in services.values()), 2
        ),
    }


def _requests_at(concurrency: int, requests: int) -> int:
    """A level's requests: ``requests`` under load; at most 1,000 one at a time."""
    return requests if concurrency > 1 else min(requests, 1000)


def _goals(system: dict[str, Any], floor: dict[str, Any]) -> dict[str, Any]:
    by_c = {r["concurrency"]: r for r in system["runs"]}
    floor_c = {r["concurrency"]: r for r in floor["runs"]}
    goals: dict[str, Any] = {}
    if 16 in by_c and 16 in floor_c:
        ratio = by_c[16]["requests_per_s"] / floor_c[16]["requests_per_s"]
        goals["ratio_to_floor_at_16"] = {
            "value": round(ratio, 2),
            "goal": f">= {GOAL_RATIO_AT_16}",
            "met": ratio >= GOAL_RATIO_AT_16,
        }
    if 1 in by_c:
        p50 = by_c[1]["latency_ms"]["p50"]
        goals["p50_ms_at_1"] = {
            "value": p50,
            "goal": f"<= {GOAL_P50_MS_AT_1}",
            "met": p50 <= GOAL_P50_MS_AT_1,
        }
    last = system["runs"][-1]["services"]
    worst = max(s["rss_mb_after"] for s in last.values())
    goals["rss_mb_per_service_after"] = {
        "value": worst,
        "goal": f"<= {GOAL_RSS_MB}",
        "met": worst <= GOAL_RSS_MB,
        "requests_served": sum(r["requests"] for r in system["runs"]),
    }
    slowest = max(system["start_s"].values())
    goals["start_to_health_s"] = {
        "value": round(slowest, 2),
        "goal": f"<= {GOAL_START_S}",
        "met": slowest <= GOAL_START_S,
    }
    return goals


def run_load_benchmark(
    *,
    requests: int,
    concurrencies: list[int],
    base_port: int,
    output: Path | None,
    database_url: str | None = None,
) -> dict[str, Any]:
    wrk_binary()
    stack = Stack(
        StackConfig.scratch(
            "selfheal-load-",
            base_port=base_port,
            watcher=False,
            database_url=database_url,
            llm_provider="offline",  # measures the plumbing, not a model
        )
    )
    data_dir = stack.config.data_dir
    url = stack.settings.db.resolved_url
    stack.start_services()
    system = Chain(
        name="selfheal",
        url=stack.config.url("manager"),
        pids={n: p.pid for n, p in stack.procs.items()},
        start_s=dict(stack.start_s),
    )
    floor: Chain | None = None
    report: dict[str, Any] = {}
    try:
        floor = _start_floor(url, base_port + 10)
        script = _script(data_dir)
        results: dict[str, list[dict[str, Any]]] = {"selfheal": [], "floor": []}
        for concurrency in concurrencies:
            for chain in (system, floor):  # side by side: one after the other per level
                results[chain.name].append(
                    _level(
                        chain,
                        script,
                        concurrency=concurrency,
                        requests=_requests_at(concurrency, requests),
                    )
                )
        sys_report = {"runs": results["selfheal"], "start_s": system.start_s}
        floor_report = {"runs": results["floor"], "start_s": floor.start_s}
        report = {
            "machine": {"cpus": os.cpu_count(), "load_generator": "wrk -t1"},
            "database": "postgresql" if url.startswith("postgresql") else "sqlite",
            "llm": "offline",
            "selfheal": sys_report,
            "floor": floor_report,
            "ratio_to_floor": {
                str(s["concurrency"]): round(s["requests_per_s"] / f["requests_per_s"], 2)
                for s, f in zip(results["selfheal"], results["floor"], strict=True)
            },
            "goals": _goals(sys_report, floor_report),
        }
    finally:
        stack.stop_services()
        if floor is not None:
            _stop(floor)
            with contextlib.suppress(Exception):
                drop_table(url)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(report, indent=2) + "\n")
    return report
