"""What a request costs with a real model (`selfheal bench load --provider local`): LLM
calls and tokens per request by role, calls saved (a refine skipped because the request
brought tests, a judge not asked because failing tests decide), and the end-to-end latency
against the worker's own generation, over catalog requests with their tests, one at a
time, on the system as `selfheal up` runs it (the local model server included).
"""

from __future__ import annotations

import json
import os
import statistics
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from selfheal.llm.providers.offline.catalog import TASKS
from selfheal.stack import Stack, StackConfig

GOAL_E2E_OVER_WORKER = 1.3


def _scrape(urls: list[str]) -> dict[str, float]:
    """Counters summed over the services: calls, tokens, saved calls, LLM seconds, by role."""
    out: dict[str, float] = defaultdict(float)
    for url in urls:
        text = httpx.get(url + "/metrics", timeout=10).text
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                role = sample.labels.get("role", "")
                if sample.name == "selfheal_llm_calls_total":
                    out[f"calls.{role}"] += sample.value
                elif sample.name == "selfheal_llm_tokens_total":
                    out[f"tokens.{role}.{sample.labels.get('direction', '')}"] += sample.value
                elif sample.name == "selfheal_llm_calls_saved_total":
                    out[f"saved.{role}.{sample.labels.get('reason', '')}"] += sample.value
                elif sample.name == "selfheal_llm_call_duration_seconds_sum":
                    out[f"seconds.{role}"] += sample.value
    return out


def _per_request(before: dict[str, float], after: dict[str, float], n: int) -> dict[str, Any]:
    grouped: dict[str, dict[str, float]] = defaultdict(dict)
    for key in sorted(set(before) | set(after)):
        delta = after.get(key, 0.0) - before.get(key, 0.0)
        if delta:
            kind, rest = key.split(".", 1)
            grouped[kind][rest] = round(delta / n, 2)
    return dict(grouped)


def _goal(ratio: float | None) -> dict[str, Any]:
    met = ratio is not None and ratio <= GOAL_E2E_OVER_WORKER
    value = round(ratio, 2) if ratio is not None else None
    return {"value": value, "goal": f"<= {GOAL_E2E_OVER_WORKER}", "met": met}


def run_model_cost_benchmark(
    *,
    provider: str,
    model: str | None,
    requests: int,
    base_port: int,
    output: Path | None,
    database_url: str | None = None,
) -> dict[str, Any]:
    stack = Stack(
        StackConfig.scratch(
            "selfheal-cost-",
            base_port=base_port,
            watcher=False,
            database_url=database_url,
            model_port=base_port + 3,
            llm_provider=provider,
            llm_model=model,
        )
    )
    stack.start_services()
    urls = [stack.config.url(s) for s in ("manager", "worker", "evaluator")]
    rows: list[dict[str, Any]] = []
    try:
        before = _scrape(urls)
        with httpx.Client(base_url=stack.config.url("manager"), timeout=1800) as client:
            for i in range(requests):
                task = TASKS[i % len(TASKS)]
                start = time.perf_counter()
                resp = client.post(
                    "/api/v1/request",
                    json={
                        "user_input": task.request,
                        "tests": task.tests,
                        "entry_point": task.entry_point,
                    },
                )
                wall = (time.perf_counter() - start) * 1000
                body = resp.json()
                lat = body.get("latency_ms") or {}
                rows.append(
                    {
                        "task": task.id,
                        "status": resp.status_code,
                        "client_ms": round(wall, 1),
                        "passed": bool(body.get("evaluation_passed")),
                        "category": body.get("failure_category"),
                        **{f"{k}_ms": v for k, v in lat.items()},
                    }
                )
        after = _scrape(urls)
    finally:
        stack.stop_services()
    ok = [r for r in rows if r["status"] == 200]
    per = _per_request(before, after, max(1, len(rows)))
    mean = (
        {
            k: round(statistics.fmean(r[f"{k}_ms"] for r in ok), 1)
            for k in ("refine", "worker", "evaluator", "total")
        }
        if ok
        else {}
    )
    worker_llm_s = per.get("seconds", {}).get("worker")
    ratio = mean["total"] / mean["worker"] if ok and mean["worker"] else None
    report = {
        "provider": provider,
        "model": model,
        "machine": {"cpus": os.cpu_count()},
        "database": "postgresql" if (database_url or "").startswith("postgresql") else "sqlite",
        "requests": len(rows),
        "passed": sum(r["passed"] for r in rows),
        "errors": len(rows) - len(ok),
        "mean_latency_ms": mean,
        "worker_llm_s_per_request": worker_llm_s,
        "per_request": per,
        "e2e_over_worker": round(ratio, 2) if ratio else None,
        "goal": _goal(ratio),
        "rows": rows,
    }
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(report, indent=2) + "\n")
    return report
