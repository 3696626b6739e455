"""`selfheal bench ...`: benchmarks whose results go to files, never timed tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from selfheal.cli._common import run_async

app = typer.Typer(help="Benchmarks (results are written to files).", no_args_is_help=True)


@app.command("heal")
def heal(
    provider: str | None = typer.Option(
        None,
        "--provider",
        help="Run the HumanEval heal benchmark in this process on this model: offline "
        "(simulation, on the simulator's tasks), local, or an OpenAI-compatible base URL "
        "(http://127.0.0.1:8080/v1). Without it: the seed's benchmark against --url.",
    ),
    model: str | None = typer.Option(None, "--model", help="LLM_MODEL for --provider"),
    visible: int = typer.Option(8, "--visible", help="Tasks the optimizer may see"),
    heldout: int = typer.Option(8, "--heldout", help="Held-out tasks it never sees"),
    sabotage: list[str] = typer.Option(
        [], "--sabotage", help="Sabotage prompts (repeat): hello-world, format, naming, subtle"
    ),
    history: str = typer.Option("both", "--history", help="both | with | without"),
    judge: str = typer.Option("evidence", "--judge", help="evidence (tests-based) | model"),
    candidates: int = typer.Option(2, "--candidates", help="OPTIMIZER_CANDIDATES for the runs"),
    refine_rounds: int = typer.Option(2, "--refine-rounds"),
    run_budget: float = typer.Option(
        1800.0, "--run-budget", help="OPTIMIZER_RUN_BUDGET_S: no new candidate replayed after it"
    ),
    cycles: int = typer.Option(2, "--cycles"),
    requests: int = typer.Option(5, "--requests"),
    url: str = typer.Option(
        "http://localhost:8000", "--url", "--manager-url", envvar="MANAGER_URL"
    ),
    output_dir: Path = typer.Option(Path("reports"), "--output-dir"),
    manual: bool = typer.Option(
        False, "--manual", help="Run the optimizer through the API instead of waiting"
    ),
    timeout: float = typer.Option(120.0, "--heal-timeout", help="Seconds to wait for a heal"),
    threshold: int = typer.Option(
        3,
        "--threshold",
        envvar="OPTIMIZER_FAILURE_THRESHOLD",
        help="The system's failure threshold",
    ),
) -> None:
    """Install bad prompts and measure how the system heals itself."""
    if provider is not None:
        _heal_in_process(
            provider=provider,
            model=model,
            visible=visible,
            heldout=heldout,
            sabotage=sabotage,
            history=history,
            judge=judge,
            candidates=candidates,
            refine_rounds=refine_rounds,
            run_budget=run_budget,
            output_dir=output_dir,
        )
        return
    from selfheal.bench.heal import print_summary, run_heal_benchmark
    from selfheal.cli._progress import heal_requests, steps

    with steps("heal benchmark", heal_requests(cycles, requests)) as advance:
        summary = run_async(
            run_heal_benchmark(
                manager_url=url,
                cycles=cycles,
                requests=requests,
                output_dir=output_dir,
                manual=manual,
                heal_timeout_s=timeout,
                threshold=threshold,
                on_request=advance,
            )
        )
    print_summary(summary)
    raise typer.Exit(0 if summary["healed"] else 1)


def _heal_in_process(
    *,
    provider: str,
    model: str | None,
    visible: int,
    heldout: int,
    sabotage: list[str],
    history: str,
    judge: str,
    candidates: int,
    refine_rounds: int,
    run_budget: float,
    output_dir: Path,
) -> None:
    from selfheal.bench.heal_real import BenchConfig, run_real_heal_benchmark
    from selfheal.bench.heal_tasks import SABOTAGE
    from selfheal.core.config import OptimizerSettings

    modes = {"both": [False, True], "with": [True], "without": [False]}
    if history not in modes:
        raise typer.BadParameter("--history is both, with or without")
    if judge not in ("evidence", "model"):
        raise typer.BadParameter("--judge is evidence or model")
    unknown = sorted(set(sabotage) - set(SABOTAGE))
    if unknown:
        raise typer.BadParameter(f"unknown sabotage prompt(s) {unknown}; known: {sorted(SABOTAGE)}")
    optimizer = OptimizerSettings(
        candidates=candidates, refine_rounds=refine_rounds, run_budget_s=run_budget
    )
    config = BenchConfig(
        provider=provider,
        model=model,
        visible=visible,
        heldout=heldout,
        sabotage=sabotage or list(SABOTAGE),
        history_modes=modes[history],
        judge=judge,
        optimizer=optimizer,
    )
    summary = run_async(run_real_heal_benchmark(config, output_dir=output_dir))
    source = "SIMULATION" if summary["source"] == "simulation" else "real model"
    for c in summary["cycles"]:
        typer.echo(
            f"[{source}] {c['sabotage']:<11} {'with' if c['history'] else 'without'} history: "
            f"held-out {c['heldout_pass_at_1_sabotage']:.0%} -> {c['heldout_pass_at_1_healed']:.0%} "
            f"(good prompt {summary['good_prompt']['heldout_pass_at_1']:.0%}), {c['decision']}"
        )
    typer.echo(f"written to {output_dir}/")


@app.command("evaluator")
def evaluator(
    mutants: int = typer.Option(2, "--mutants", help="Wrong variants per problem"),
    concurrency: int = typer.Option(0, "--concurrency", help="Jobs in flight (0 = 2 x pool)"),
    limit: int | None = typer.Option(None, "--limit", help="Only the first N problems"),
    no_bwrap: bool = typer.Option(False, "--no-bwrap", help="Skip the one-bwrap-per-job run"),
    baseline: str | None = typer.Option(
        None, "--baseline", help="Also time this git revision's evaluator, in the same run"
    ),
    rounds: int = typer.Option(3, "--rounds", help="Alternating timed rounds with --baseline"),
    output: Path = typer.Option(Path("reports/bench-evaluator.json"), "--output"),
) -> None:
    """HumanEval through the evaluator's sandbox: verdict accuracy and executions per second."""
    import json

    from selfheal.bench.evaluator import print_summary, run_benchmark
    from selfheal.cli._common import console

    with console.status("running HumanEval through the sandbox…"):
        result = run_async(
            run_benchmark(
                mutants_per_problem=mutants,
                concurrency=concurrency,
                limit=limit,
                compare_bwrap=not no_bwrap,
                baseline_rev=baseline,
                rounds=rounds,
            )
        )
    print_summary(result)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    ok = not result["false_passes"] and not result["false_fails"]
    raise typer.Exit(0 if ok else 1)


@app.command("load")
def load(
    requests: int | None = typer.Option(
        None,
        "--requests",
        help="Offline: requests per concurrency level (10,000; at most 1,000 at level 1). "
        "A real model: requests one at a time (6)",
    ),
    provider: str = typer.Option(
        "offline",
        "--provider",
        help="offline: the system against the floor chain; local (or any provider): LLM calls, "
        "tokens and latency per request with that model",
    ),
    model: str | None = typer.Option(None, "--model", help="e.g. qwen2.5-coder-1.5b"),
    concurrency: list[int] = typer.Option(
        [1, 16], "--concurrency", help="Repeat for several levels"
    ),
    base_port: int = typer.Option(18500, "--base-port"),
    output: Path = typer.Option(Path("reports/load.json"), "--output"),
    database_url: str | None = typer.Option(
        None,
        "--database-url",
        help="A migrated-or-empty PostgreSQL database (default: a fresh SQLite file)",
    ),
) -> None:
    """The system's own cost per request against the machine's floor, side by side (offline
    model, wrk): requests/s, p50/p95/p99, errors, CPU ms per request and RSS per service.
    With a real model: LLM calls, tokens and end-to-end latency against the worker's call."""
    from rich.console import Console
    from rich.table import Table

    from selfheal.bench.load import run_load_benchmark

    console = Console()
    if provider != "offline":
        _model_cost(
            console,
            provider=provider,
            model=model,
            requests=requests or 6,
            base_port=base_port,
            output=output,
            database_url=database_url,
        )
        return
    with console.status(f"selfheal and the floor chain at concurrency {concurrency}…"):
        report = run_load_benchmark(
            requests=requests or 10_000,
            concurrencies=concurrency,
            base_port=base_port,
            output=output,
            database_url=database_url,
        )
    table = Table(
        "chain",
        "concurrency",
        "requests",
        "req/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "errors",
        "CPU ms/req per process",
        "RSS MB after",
        "start s",
    )
    for name in ("selfheal", "floor"):
        part = report[name]
        for r in part["runs"]:
            s = r["services"]
            table.add_row(
                name,
                str(r["concurrency"]),
                str(r["requests"]),
                str(r["requests_per_s"]),
                str(r["latency_ms"]["p50"]),
                str(r["latency_ms"]["p95"]),
                str(r["latency_ms"]["p99"]),
                str(r["errors"]),
                " / ".join(f"{v['cpu_ms_per_request']}" for v in s.values()),
                " / ".join(f"{v['rss_mb_after']:.0f}" for v in s.values()),
                " / ".join(f"{v:.2f}" for v in part["start_s"].values()),
            )
    console.print(table)
    ratios = ", ".join(f"{v}x at {c}" for c, v in report["ratio_to_floor"].items())
    console.print(f"selfheal / floor requests/s: {ratios}")
    for goal, g in report["goals"].items():
        console.print(
            f"  {goal}: {g['value']} (goal {g['goal']}): {'met' if g['met'] else 'NOT met'}"
        )
    console.print(f"written to {output}")


def _model_cost(
    console: Any,
    *,
    provider: str,
    model: str | None,
    requests: int,
    base_port: int,
    output: Path,
    database_url: str | None,
) -> None:
    from rich.table import Table

    from selfheal.bench.model_cost import run_model_cost_benchmark

    with console.status(f"{requests} requests one at a time on {provider} {model or ''}…"):
        report = run_model_cost_benchmark(
            provider=provider,
            model=model,
            requests=requests,
            base_port=base_port,
            output=output,
            database_url=database_url,
        )
    table = Table("task", "status", "passed", "refine ms", "worker ms", "evaluator ms", "total ms")
    for r in report["rows"]:
        table.add_row(
            r["task"],
            str(r["status"]),
            str(r["passed"]),
            str(r.get("refine_ms")),
            str(r.get("worker_ms")),
            str(r.get("evaluator_ms")),
            str(r.get("total_ms")),
        )
    console.print(table)
    per = report["per_request"]
    console.print(f"LLM calls per request by role: {per.get('calls', {})}")
    console.print(f"tokens per request: {per.get('tokens', {})}")
    console.print(f"calls saved per request: {per.get('saved', {})}")
    g = report["goal"]
    console.print(
        f"mean latency ms: {report['mean_latency_ms']}; end to end / worker = "
        f"{g['value']} (goal {g['goal']}): {'met' if g['met'] else 'NOT met'}"
    )
    console.print(f"written to {output}")


@app.command("dashboard")
def dashboard(
    rows: int = typer.Option(1_000_000, "--rows", help="Execution logs to generate"),
    backend: list[str] = typer.Option(
        ["postgresql", "sqlite"], "--backend", help="postgresql and/or sqlite (repeat)"
    ),
    pg_server: str = typer.Option(
        "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres",
        "--pg-server",
        help="A PostgreSQL server where a throwaway database may be created",
    ),
    hours: list[float] = typer.Option([24.0, 168.0], "--hours", help="Chart windows to time"),
    repeats: int = typer.Option(5, "--repeats"),
    output: Path = typer.Option(Path("reports/bench-dashboard.json"), "--output"),
) -> None:
    """Fill a database with N execution logs and time the dashboard's queries and page."""
    import json

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TimeElapsedColumn
    from rich.table import Table

    from selfheal.bench.dashboard import run_backend
    from selfheal.cli._common import console

    results = []
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        for name in backend:
            task = bar.add_task(f"{name}: fill", total=rows)

            def progress(
                step: str, done: int, total: int, task: TaskID = task, name: str = name
            ) -> None:
                if step == "fill":
                    bar.update(task, completed=done, description=f"{name}: fill")
                else:
                    bar.update(task, description=f"{name}: {step}")

            results.append(
                run_async(
                    run_backend(
                        name,
                        rows=rows,
                        repeats=repeats,
                        hours=hours,
                        pg_server=pg_server,
                        progress=progress,
                    )
                )
            )
            bar.update(task, description=f"{name}: done")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps({"results": results}, indent=2) + "\n", encoding="utf-8")
    for r in results:
        table = Table(
            title=f"{r['backend']}: {r['rows']:,} execution logs (filled in {r['fill_s']} s)"
        )
        windows = list(r["windows"])
        table.add_column("query")
        for w in windows:
            table.add_column(f"{w} median ms", justify="right")
        for q in r["windows"][windows[0]]["queries"]:
            table.add_row(q, *(str(r["windows"][w]["queries"][q]["median_ms"]) for w in windows))
        table.add_row(
            "whole page (GET /dashboard)",
            *(str(r["windows"][w]["page"]["median_ms"]) for w in windows),
        )
        console.print(table)
    console.print(f"written to {output}")
