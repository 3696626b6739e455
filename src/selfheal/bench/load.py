"""Throughput and the system's own cost per request (`selfheal bench load`).

Starts the system on a fresh SQLite file with the offline model (so the LLM costs ~0 and
what is measured is selfheal itself), sends requests from the catalog at a fixed
concurrency and reports requests/s, latency percentiles, and CPU milliseconds and RSS per
service process, read from /proc before and after the run.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from selfheal.llm.providers.offline.catalog import TASKS
from selfheal.stack import Stack, StackConfig

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def _rss_mb(pid: int) -> float:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE / 1e6


def _tree(pid: int) -> list[int]:
    """A process and its descendants (the evaluator's sandbox helpers count as its cost)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def _usage(pid: int) -> tuple[float, float]:
    cpu = rss = 0.0
    for p in _tree(pid):
        try:
            cpu += _cpu_seconds(p)
            rss += _rss_mb(p)
        except OSError:
            continue
    return cpu, rss


async def _drive(
    url: str, *, requests: int, concurrency: int, with_tests: bool
) -> list[tuple[float, bool]]:
    tasks = list(TASKS)
    results: list[tuple[float, bool]] = []
    counter = iter(range(requests))
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:

        async def worker() -> None:
            for i in counter:
                task = tasks[i % len(tasks)]
                body: dict[str, Any] = {"user_input": task.request}
                if with_tests:
                    body.update(tests=task.tests, entry_point=task.entry_point)
                start = time.perf_counter()
                async with session.post(f"{url}/api/v1/request", json=body) as resp:
                    data = await resp.json()
                    ok = resp.status == 200 and bool(data.get("evaluation_passed"))
                results.append((time.perf_counter() - start, ok))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return results


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _measure(
    stack: Stack, *, requests: int, concurrency: int, with_tests: bool
) -> dict[str, Any]:
    url = stack.config.url("manager")
    await _drive(
        url, requests=min(20, requests), concurrency=concurrency, with_tests=with_tests
    )  # warm-up
    before = {name: _usage(proc.pid) for name, proc in stack.procs.items()}
    start = time.perf_counter()
    results = await _drive(url, requests=requests, concurrency=concurrency, with_tests=with_tests)
    wall = time.perf_counter() - start
    after = {name: _usage(proc.pid) for name, proc in stack.procs.items()}
    latencies = [r[0] * 1000 for r in results]
    per_service = {
        name: {
            "cpu_ms_per_request": round(
                (after[name][0] - before[name][0]) * 1000 / len(results), 2
            ),
            "rss_mb": round(after[name][1], 1),
        }
        for name in stack.procs
    }
    return {
        "requests": len(results),
        "concurrency": concurrency,
        "with_tests": with_tests,
        "requests_per_s": round(len(results) / wall, 1),
        "latency_ms": {
            "p50": round(statistics.median(latencies), 1),
            "p90": round(_pct(latencies, 0.90), 1),
            "p99": round(_pct(latencies, 0.99), 1),
        },
        "passed": sum(ok for _, ok in results),
        "services": per_service,
        "cpu_ms_per_request_total": round(
            sum(s["cpu_ms_per_request"] for s in per_service.values()), 2
        ),
    }


def run_load_benchmark(
    *,
    requests: int,
    concurrencies: list[int],
    base_port: int,
    output: Path | None,
    database_url: str | None = None,
) -> dict[str, Any]:
    for key in ("DATABASE_URL", "LLM_API_KEY", "LLM_BASE_URL"):
        os.environ.pop(key, None)
    os.environ["LLM_PROVIDER"] = "offline"  # measures the plumbing, not a model
    data_dir = Path(tempfile.mkdtemp(prefix="selfheal-load-"))
    stack = Stack(StackConfig(manager_port=base_port, worker_port=base_port + 1, evaluator_port=base_port + 2,
                              data_dir=data_dir, watcher=False, log_dir=data_dir / "logs", database_url=database_url))  # fmt: skip
    stack.start_services()
    try:
        runs = []
        for concurrency in concurrencies:
            for with_tests in (True, False):
                runs.append(
                    asyncio.run(
                        _measure(
                            stack, requests=requests, concurrency=concurrency, with_tests=with_tests
                        )
                    )
                )
    finally:
        stack.stop_services()
    report = {
        "machine": {"cpus": os.cpu_count()},
        "database": "sqlite",
        "llm": "offline",
        "runs": runs,
    }
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(report, indent=2) + "\n")
    return report
