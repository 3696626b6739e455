"""The self-healing benchmark (the seed's `scripts/benchmark.py --cycles 2 --requests 5`).

Against a system that is already up: each cycle installs a bad prompt, sends requests,
lets the system heal itself (or runs the optimizer with ``manual``), then sends the
training requests again plus held-out requests never used for optimization.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from selfheal.bench.catalog import Task
from selfheal.core.config import get_settings
from selfheal.services.common.auth import client_headers
from selfheal.testing.scenarios import BAD_PROMPTS, split_tasks

TASK_TYPE = "code_generation"


@dataclass
class Sample:
    t: float
    phase: str
    cycle: int
    task: str
    score: float
    passed: bool
    category: str | None
    prompt_version: int | None
    request_id: str | None = None


async def _send(client: httpx.AsyncClient, task: Task) -> dict[str, Any]:
    resp = await client.post(
        "/api/v1/request",
        json={
            "user_input": task.request,
            "task_type": TASK_TYPE,
            "tests": task.tests,
            "entry_point": task.entry_point,
        },
    )
    resp.raise_for_status()
    data: dict[str, Any] = resp.json()
    return data


async def _provider_of(client: httpx.AsyncClient, samples: list[Sample]) -> str | None:
    """The worker's provider, as logged for the first request (None when unknown)."""
    if not samples or not samples[0].request_id:
        return None
    resp = await client.get(f"/api/v1/requests/{samples[0].request_id}")
    if resp.status_code != 200:
        return None
    provider = resp.json().get("provider")
    return str(provider) if provider else None


def _good_pass_rate(samples: list[Sample]) -> float | None:
    good = [s for s in samples if s.phase == "good"]
    return _mean([float(s.passed) for s in good]) if good else None


def _healed(results: list[dict[str, Any]], samples: list[Sample], *, simulated: bool) -> bool:
    """Every cycle promoted a new prompt and got the pass rate back. The simulator must reach
    95% after healing and on held-out inputs; a real model must get back within 5 points of
    what it did under the seed prompt (100% when that was not measured) on the inputs that
    failed, its held-out figure is reported beside it: it measures the model as much as the
    prompt."""
    good = _good_pass_rate(samples)
    target = 0.95 if simulated or good is None else max(0.0, good - 0.05)
    return bool(results) and all(
        r["promoted_version"] is not None
        and r["after_pass_rate"] >= target
        and (not simulated or r["heldout_pass_rate"] >= 0.95)
        for r in results
    )


def source_label(provider: str | None) -> str:
    """``simulation`` for the offline model: its heals prove the plumbing, not a capability."""
    if provider == "offline":
        return "simulation"
    return "real model" if provider else "unknown"


async def _active_version(client: httpx.AsyncClient) -> int | None:
    resp = await client.get("/api/v1/prompts")
    resp.raise_for_status()
    for p in resp.json():
        if p["task_type"] == TASK_TYPE and p["status"] == "active":
            return int(p["version"])
    return None


async def run_heal_benchmark(
    *,
    manager_url: str,
    cycles: int,
    requests: int,
    output_dir: Path,
    manual: bool,
    heal_timeout_s: float = 120.0,
    threshold: int = 3,
    on_request: Callable[[str], None] | None = None,
    heldout_limit: int | None = None,
    good_requests: int = 0,
) -> dict[str, Any]:
    """Run the cycles and write metrics.json, healing_report.md and healing.png;
    ``on_request`` hears about each request (a progress bar). ``good_requests`` first sends
    that many requests under the live (seed) prompt, so that it has a live record the
    optimizer may fall back on, as a system that ran well before a bad prompt would."""
    train, heldout = split_tasks(requests, heldout_limit)
    samples: list[Sample] = []
    results: list[dict[str, Any]] = []
    start = time.monotonic()
    service = get_settings().service
    # The benchmark installs bad prompts: an admin's work (SELFHEAL_ADMIN_API_KEY when set).
    headers = client_headers(service.admin_api_key or service.api_key)
    async with httpx.AsyncClient(base_url=manager_url, timeout=300, headers=headers) as client:

        async def phase(name: str, cycle: int, tasks: list[Task]) -> list[Sample]:
            out = []
            for task in tasks:
                data = await _send(client, task)
                s = Sample(
                    time.monotonic() - start,
                    name,
                    cycle,
                    task.id,
                    data["evaluation_score"],
                    data["evaluation_passed"],
                    data["failure_category"],
                    data["prompt_version"],
                    data.get("request_id"),
                )
                out.append(s)
                samples.append(s)
                if on_request is not None:
                    on_request(f"cycle {cycle}/{cycles}: {name}")
            return out

        if good_requests:
            await phase("good", 0, [train[i % len(train)] for i in range(good_requests)])
        for cycle in range(1, cycles + 1):
            bad = BAD_PROMPTS[(cycle - 1) % len(BAD_PROMPTS)]
            resp = await client.post(
                f"/api/v1/prompts/{TASK_TYPE}",
                json={"content": bad, "reason": f"benchmark cycle {cycle}: install a bad prompt"},
            )
            resp.raise_for_status()
            bad_version = int(resp.json()["version"])
            before = await phase("before", cycle, [train[i % len(train)] for i in range(requests)])
            failures = [s for s in before if not s.passed]
            first_failure = failures[0].t if failures else None
            crossed = failures[threshold - 1].t if len(failures) >= threshold else None
            if manual:
                await client.post(
                    "/api/v1/optimizations/run", json={"task_type": TASK_TYPE}, timeout=600
                )
            healed_at = None
            deadline = time.monotonic() + heal_timeout_s
            while time.monotonic() < deadline:
                version = await _active_version(client)
                if version is not None and version != bad_version:
                    healed_at = time.monotonic() - start
                    break
                await asyncio.sleep(0.2)
            promoted = await _active_version(client)
            after = await phase("after", cycle, [train[i % len(train)] for i in range(requests)])
            held = await phase("heldout", cycle, heldout)
            runs = (await client.get("/api/v1/optimizations", params={"limit": 50})).json()
            run = next(
                (r for r in runs if r.get("new_version") == promoted and r["kind"] == "optimize"),
                None,
            )
            results.append(
                {
                    "cycle": cycle,
                    "bad_prompt": bad,
                    "bad_version": bad_version,
                    "before_avg_score": _mean([s.score for s in before]),
                    "after_avg_score": _mean([s.score for s in after]),
                    "before_pass_rate": _mean([float(s.passed) for s in before]),
                    "after_pass_rate": _mean([float(s.passed) for s in after]),
                    "heldout_pass_rate": _mean([float(s.passed) for s in held]),
                    "heldout_avg_score": _mean([s.score for s in held]),
                    "time_to_heal_s": None
                    if healed_at is None or first_failure is None
                    else round(healed_at - first_failure, 3),
                    "time_from_threshold_s": None
                    if healed_at is None or crossed is None
                    else round(healed_at - crossed, 3),
                    "heldout_requests": len(held),
                    "requests_to_heal": len(failures) if healed_at is not None else None,
                    "optimizer_llm_calls": run["llm_calls"] if run else None,
                    "optimizer_run_id": run["run_id"] if run else None,
                    "promoted_version": promoted if healed_at is not None else None,
                    "before_categories": _counts([s.category for s in before]),
                }
            )
        provider = await _provider_of(client, samples)
    summary = {
        "source": source_label(provider),
        "provider": provider,
        "manager_url": manager_url,
        "cycles": results,
        "healed": _healed(results, samples, simulated=provider == "offline"),
        "good_pass_rate": _good_pass_rate(samples),
        "samples": [s.__dict__ for s in samples],
    }
    write_reports(summary, output_dir)
    return summary


def _mean(values: list[float]) -> float:
    return round(sum(values) / len(values), 4) if values else 0.0


def _counts(values: list[str | None]) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[str(v)] = out.get(str(v), 0) + 1
    return out


def write_reports(summary: dict[str, Any], output_dir: Path) -> None:
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "metrics.json").write_text(json.dumps(summary, indent=2) + "\n")
    lines = [
        "# Self-healing benchmark"
        + (
            " — SIMULATION (offline model: plumbing, not capability)"
            if summary.get("source") == "simulation"
            else ""
        ),
        "",
        f"Manager: {summary['manager_url']}, worker provider: {summary.get('provider')} "
        f"({summary.get('source')}). Healed in every cycle: **{summary['healed']}**.",
        "",
        "| cycle | before score | after score | before pass | after pass | held-out pass | time to heal (s) | from threshold (s) | requests to heal | optimizer LLM calls | promoted |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in summary["cycles"]:
        lines.append(
            f"| {r['cycle']} | {r['before_avg_score']:.3f} | {r['after_avg_score']:.3f} | "
            f"{r['before_pass_rate']:.0%} | {r['after_pass_rate']:.0%} | "
            f"{r['heldout_pass_rate']:.0%} of {r['heldout_requests']} | {r['time_to_heal_s']} | "
            f"{r['time_from_threshold_s']} | {r['requests_to_heal']} | {r['optimizer_llm_calls']} | "
            f"v{r['promoted_version']} |"
        )
    lines += ["", "Bad prompts installed:", ""]
    lines += [
        f"- cycle {r['cycle']}: `{r['bad_prompt']}` (failures: {r['before_categories']})"
        for r in summary["cycles"]
    ]
    (output_dir / "healing_report.md").write_text("\n".join(lines) + "\n")
    _plot(summary, output_dir / "healing.png")


def _plot(summary: dict[str, Any], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    samples = summary["samples"]
    if not samples:
        return
    xs = list(range(1, len(samples) + 1))
    scores = [s["score"] for s in samples]
    window = 5
    rolling = [
        sum(float(s["passed"]) for s in samples[max(0, i - window + 1) : i + 1])
        / len(samples[max(0, i - window + 1) : i + 1])
        for i in range(len(samples))
    ]
    fig, ax = plt.subplots(figsize=(10, 4))
    colors = ["tab:green" if s["passed"] else "tab:red" for s in samples]
    ax.scatter(xs, scores, c=colors, s=18, label="score (green = pass)")
    ax.plot(xs, rolling, color="tab:blue", label=f"pass rate (last {window})")
    ax.axhline(0.7, color="gray", linestyle=":", linewidth=1, label="threshold 0.7")
    prev = None
    for x, s in zip(xs, samples, strict=True):
        if s["prompt_version"] != prev:
            ax.axvline(x - 0.5, color="tab:purple", linestyle="--", linewidth=1)
            ax.text(x - 0.4, 1.02, f"v{s['prompt_version']}", color="tab:purple", fontsize=8)
        prev = s["prompt_version"]
    ax.set_ylim(-0.05, 1.1)
    ax.set_xlabel("request")
    ax.set_ylabel("score / pass rate")
    label = "SIMULATION — " if summary.get("source") == "simulation" else ""
    ax.set_title(f"{label}selfheal: score and pass rate over requests (dashed: prompt versions)")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def print_summary(summary: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        "cycle",
        "before pass",
        "after pass",
        "held-out pass",
        "before score",
        "after score",
        "time to heal (s)",
        "promoted",
    )
    for r in summary["cycles"]:
        table.add_row(
            str(r["cycle"]),
            f"{r['before_pass_rate']:.0%}",
            f"{r['after_pass_rate']:.0%}",
            f"{r['heldout_pass_rate']:.0%}",
            f"{r['before_avg_score']:.3f}",
            f"{r['after_avg_score']:.3f}",
            str(r["time_to_heal_s"]),
            f"v{r['promoted_version']}",
        )
    console = Console()
    if summary.get("source") == "simulation":
        table.title = "SIMULATION (offline model): the plumbing heals, this says nothing of a model"
    console.print(table)
    console.print(
        "healed in every cycle" if summary["healed"] else "[red]did not heal in every cycle[/red]"
    )
