"""`selfheal bench heal --provider offline|local|URL`: does the optimizer heal a model?

In this process, with the code the services run (the worker's LLM call, the evaluator's
``evaluate`` with its sandbox, the optimizer's ``run_optimization`` on a SQLite database),
for each sabotage prompt, with and without good history to fall back on:

1. the good prompt's pass@1 on the visible and the held-out tasks (measured once);
2. the sabotage prompt goes live; the visible tasks are asked (logged: these failures
   trigger the optimizer and form its replay set); the held-out ones are asked unlogged;
3. one optimizer run (trigger, analysis, candidates, replay, compare, promote);
4. the held-out tasks are asked with whatever prompt is live after the run.

"With history" means the good prompt served the visible tasks before the sabotage (its
live record makes it a history candidate); "without" means no earlier version has a live
record, so only the optimizer's own candidates can heal. Visible pass@1 after healing is
the promoted candidate's replay of the visible tasks (the same calls, temperature 0).

Scores use the evaluator's rules and a judge: by default the evidence judge (the offline
reviewer, which scores from the tests and static checks), so a slow CPU model spends its
calls on the worker, analyst and optimizer; ``judge="model"`` uses the model. pass@1 is
the tests' verdict either way. With the offline provider every figure is simulation.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import difflib
import json
import socket
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from selfheal.bench.heal_tasks import (
    GOOD_PROMPT,
    SABOTAGE,
    TASK_TYPE,
    BenchTask,
    humaneval_tasks,
    simulator_tasks,
)
from selfheal.core.config import LLMSettings, OptimizerSettings, get_settings
from selfheal.db import execution_logs
from selfheal.db import prompts as prompt_repo
from selfheal.db.migrate import upgrade
from selfheal.db.models import PromptAuthor, PromptStatus, RunTrigger
from selfheal.db.session import create_engine, create_sessionmaker
from selfheal.llm.base import KEYLESS_PLACEHOLDER, LLMRequest, Role
from selfheal.llm.client import LLMClient
from selfheal.llm.providers.offline import OfflineProvider
from selfheal.sandbox.base import Sandbox
from selfheal.sandbox.registry import build_sandbox
from selfheal.services.evaluator.schemas import EvaluateRequest
from selfheal.services.evaluator.service import evaluate
from selfheal.services.optimizer.deps import OptimizerDeps
from selfheal.services.optimizer.job import run_optimization
from selfheal.services.optimizer.replay import ReplayItem, ReplayOutcome, outcome_from_evaluation


@dataclass
class BenchConfig:
    provider: str = "offline"  # offline | local | an OpenAI-compatible base URL
    model: str | None = None
    visible: int = 8
    heldout: int = 8
    sabotage: list[str] = field(default_factory=lambda: list(SABOTAGE))
    history_modes: list[bool] = field(default_factory=lambda: [False, True])
    judge: str = "evidence"  # evidence | model
    seed: int = 0
    llm_timeout_s: float = 600.0
    # HumanEval answers are short; a sabotaged model that rambles is cut here rather than
    # holding a CPU-bound single-slot server for minutes (the services use 2048).
    worker_max_tokens: int = 768
    optimizer: OptimizerSettings = field(
        default_factory=lambda: OptimizerSettings(candidates=2, refine_rounds=2, run_budget_s=1800)
    )

    @property
    def simulation(self) -> bool:
        return self.provider == "offline"


def llm_settings(config: BenchConfig) -> LLMSettings:
    """The provider every role uses (one model, as on a one-machine install)."""
    # One slow call may take minutes on a CPU; a retry would double it, and the breaker
    # must not open on a model that is merely slow.
    if config.provider.startswith(("http://", "https://")):
        return LLMSettings(
            provider="openai",
            base_url=config.provider,
            api_key=KEYLESS_PLACEHOLDER,
            model=config.model or "local",
            timeout_s=config.llm_timeout_s,
            max_retries=1,
            breaker_failures=1000,
        )
    return LLMSettings(
        provider=config.provider,
        model=config.model,
        timeout_s=config.llm_timeout_s,
        max_retries=1,
        breaker_failures=1000,
    )


def _offline(role: Role) -> LLMClient:
    provider = OfflineProvider(model="offline-sim-1", api_key=None, base_url=None, timeout_s=30)
    return LLMClient(provider, role, LLMSettings(provider="offline"))


class InProcessSystem:
    """Worker + evaluator in this process: what the services do, minus HTTP and the refiner
    (the task text goes to the worker as it is). Also the optimizer's replayer."""

    def __init__(self, config: BenchConfig, sandbox: Sandbox) -> None:
        settings = llm_settings(config)
        self.worker = LLMClient.for_role(settings, Role.WORKER)
        self.analyst = LLMClient.for_role(settings, Role.ANALYST)
        self.optimizer = LLMClient.for_role(settings, Role.OPTIMIZER)
        self.judge = (
            LLMClient.for_role(settings, Role.JUDGE)
            if config.judge == "model"
            else _offline(Role.JUDGE)
        )
        self.test_writer = _offline(Role.TEST_WRITER)  # never called: every task has tests
        self.sandbox = sandbox
        self.evaluator_settings = get_settings().evaluator
        self.max_tokens = config.worker_max_tokens

    async def answer(self, prompt: str, item: ReplayItem) -> tuple[ReplayOutcome, dict[str, Any]]:
        """One request with ``prompt`` as the system prompt; the outcome and a log row."""
        started = time.perf_counter()
        response = await self.worker.generate(
            LLMRequest(
                role=Role.WORKER,
                system=prompt,
                prompt=item.refined_input,
                max_tokens=self.max_tokens,
            )
        )
        worker_ms = (time.perf_counter() - started) * 1000
        ev = await evaluate(
            EvaluateRequest(
                request_id=item.key,
                task_type=TASK_TYPE,
                user_input=item.user_input,
                refined_input=item.refined_input,
                worker_output=response.text,
                tests=item.tests,
                entry_point=item.entry_point,
            ),
            settings=self.evaluator_settings,
            sandbox=self.sandbox,
            judge=self.judge,
            test_writer=self.test_writer,
        )
        row = {
            "request_id": item.key,
            "task_type": TASK_TYPE,
            "status": "completed",
            "user_input": item.user_input,
            "tests": item.tests,
            "entry_point": item.entry_point,
            "refined_input": item.refined_input,
            "worker_output": response.text,
            "code": ev.code,
            "evaluation_score": ev.score,
            "evaluation_passed": ev.passed,
            "failure_category": ev.failure_category,
            "evaluation_detail": ev.detail.model_dump(),
            "provider": response.provider,
            "model": response.model,
            "input_tokens": response.input_tokens,
            "output_tokens": response.output_tokens,
            "latency_worker_ms": worker_ms,
            "latency_total_ms": (time.perf_counter() - started) * 1000,
        }
        return outcome_from_evaluation(item, response.text, ev), row

    async def run(self, task_type: str, item: ReplayItem, *, prompt: str) -> ReplayOutcome:
        """The optimizer's replay of one item."""
        outcome, _ = await self.answer(prompt, item)
        return outcome

    async def aclose(self) -> None:
        for client in (self.worker, self.analyst, self.optimizer, self.judge, self.test_writer):
            await client.aclose()


def _item(task: BenchTask) -> ReplayItem:
    return ReplayItem(
        key=str(uuid.uuid4()),
        origin="bench",
        user_input=task.user_input,
        refined_input=task.user_input,
        tests=task.tests,
        entry_point=task.entry_point,
    )


@dataclass
class Phase:
    """pass@1 of one prompt on one task set."""

    name: str
    results: dict[str, bool]
    categories: dict[str, str | None]
    seconds: float

    @property
    def pass_at_1(self) -> float:
        return sum(self.results.values()) / len(self.results) if self.results else 0.0


class Bench:
    def __init__(self, config: BenchConfig, system: InProcessSystem, workdir: Path) -> None:
        self.config = config
        self.system = system
        self.workdir = workdir
        self.progress: list[str] = []

    def say(self, line: str) -> None:
        print(line, flush=True)
        self.progress.append(line)

    async def phase(
        self,
        name: str,
        prompt: str,
        tasks: list[BenchTask],
        *,
        log_to: Any = None,
        version: int | None = None,
    ) -> Phase:
        started = time.monotonic()
        results: dict[str, bool] = {}
        categories: dict[str, str | None] = {}
        for task in tasks:
            try:
                outcome, row = await self.system.answer(prompt, _item(task))
            except Exception as exc:  # a failed call is a failed task, as in replay
                self.say(f"  {name}: {task.id} failed to answer: {type(exc).__name__}: {exc}")
                results[task.id], categories[task.id] = False, "error"
                continue
            results[task.id], categories[task.id] = outcome.passed, outcome.category
            if log_to is not None:
                row["prompt_version"], row["prompt_status"] = version, PromptStatus.ACTIVE.value
                async with log_to() as session:
                    await execution_logs.insert(session, **row)
                    await session.commit()
        result = Phase(name, results, categories, round(time.monotonic() - started, 1))
        self.say(
            f"  {name}: pass@1 {result.pass_at_1:.0%} ({sum(results.values())}/{len(results)}) in {result.seconds:.0f} s"
        )
        return result

    async def cycle(
        self,
        sabotage: str,
        *,
        history: bool,
        visible: list[BenchTask],
        heldout: list[BenchTask],
        good_visible: list[dict[str, Any]],
    ) -> dict[str, Any]:
        """One sabotage prompt, one history mode, on a fresh database."""
        label = f"{sabotage} / {'with' if history else 'without'} history"
        self.say(f"cycle {label}")
        db_path = self.workdir / f"{sabotage}-{'history' if history else 'nohistory'}.db"
        url = f"sqlite+aiosqlite:///{db_path}"
        await asyncio.to_thread(upgrade, url)  # the seed prompt is v1, active
        engine = create_engine(url)
        sessions = create_sessionmaker(engine)
        try:
            if history:  # the good prompt (v1) served the visible tasks: its live record
                async with sessions() as session:
                    for row in good_visible:
                        await execution_logs.insert(
                            session, **{**row, "request_id": str(uuid.uuid4()), "prompt_version": 1}
                        )
                        await session.commit()
            bad_prompt = SABOTAGE[sabotage]
            async with sessions() as session:
                bad = await prompt_repo.create_version(
                    session,
                    task_type=TASK_TYPE,
                    content=bad_prompt,
                    author=PromptAuthor.HUMAN.value,
                    reason=f"benchmark: sabotage {sabotage}",
                    parent_version=1,
                )
                await prompt_repo.activate(session, task_type=TASK_TYPE, version=bad.version)
                bad_version = bad.version
                await session.commit()
            broken_at = time.monotonic()
            sabotaged = await self.phase(
                "sabotage, visible", bad_prompt, visible, log_to=sessions, version=bad_version
            )
            sabotaged_heldout = await self.phase("sabotage, held-out", bad_prompt, heldout)
            # The trigger as configured, but never above what the visible tasks can reach
            # (two visible tasks fail at most twice: a threshold of 3 would never fire).
            threshold = min(self.config.optimizer.failure_threshold, len(visible))
            deps = OptimizerDeps(
                engine=engine,
                sessionmaker=sessions,
                analyst=self.system.analyst,
                optimizer=self.system.optimizer,
                replayer=self.system,
                settings=self.config.optimizer.model_copy(update={"failure_threshold": threshold}),
            )
            before = {
                c: (c.usage.calls, c.usage.input_tokens, c.usage.output_tokens)
                for c in (self.system.analyst, self.system.optimizer)
            }
            run_started = time.monotonic()
            run = await run_optimization(deps, task_type=TASK_TYPE, trigger=RunTrigger.MANUAL)
            report = run.model_dump(mode="json")
            run_s = time.monotonic() - run_started
            healed_at = time.monotonic()
            spent = [
                (c.usage.calls - b[0], c.usage.input_tokens - b[1], c.usage.output_tokens - b[2])
                for c, b in before.items()
            ]
            async with sessions() as session:
                live = await prompt_repo.get_active(session, task_type=TASK_TYPE)
                assert live is not None
                live_version, live_prompt = live.version, live.content
            promoted = report.get("new_version") is not None
            self.say(
                f"  optimizer: {report.get('decision')} ({report.get('decision_reason')}) in {run_s:.0f} s"
            )
            if promoted:
                after_heldout = await self.phase("healed, held-out", live_prompt, heldout)
            else:
                after_heldout = sabotaged_heldout
            chosen = next(
                (
                    c
                    for c in report.get("candidates") or []
                    if c.get("prompt") == live_prompt and "scores" in c
                ),
                None,
            )
            after_visible = (
                sum(s["passed"] for s in chosen["scores"].values()) / len(chosen["scores"])
                if promoted and chosen and chosen["scores"]
                else sabotaged.pass_at_1
            )
            return {
                "sabotage": sabotage,
                "history": history,
                "sabotage_prompt": bad_prompt,
                "visible_pass_at_1_sabotage": round(sabotaged.pass_at_1, 4),
                "heldout_pass_at_1_sabotage": round(sabotaged_heldout.pass_at_1, 4),
                "visible_pass_at_1_healed": round(after_visible, 4),
                "heldout_pass_at_1_healed": round(after_heldout.pass_at_1, 4),
                "sabotage_categories": _counts(sabotaged.categories.values()),
                "decision": report.get("decision"),
                "decision_reason": report.get("decision_reason"),
                "promoted": promoted,
                "promoted_source": chosen.get("source") if promoted and chosen else None,
                "promoted_version": live_version if promoted else None,
                "promoted_prompt": live_prompt if promoted else None,
                "promoted_diff": _diff(bad_prompt, live_prompt) if promoted else None,
                # From the sabotage going live to the healed prompt going live, without the
                # benchmark's own unlogged held-out phase in between.
                "time_to_heal_s": (
                    round(healed_at - broken_at - sabotaged_heldout.seconds, 1)
                    if promoted
                    else None
                ),
                "sabotage_phase_s": sabotaged.seconds,
                "optimizer_run_s": round(run_s, 1),
                "optimizer_llm_calls": sum(s[0] for s in spent),
                "optimizer_input_tokens": sum(s[1] for s in spent),
                "optimizer_output_tokens": sum(s[2] for s in spent),
                "replays": sum(len(c.get("scores") or {}) for c in report.get("candidates") or []),
                "candidates": [
                    {
                        k: c.get(k)
                        for k in (
                            "label",
                            "source",
                            "prompt",
                            "pass_rate",
                            "mean_score",
                            "replay_errors",
                            "rejected",
                        )
                    }
                    for c in report.get("candidates") or []
                ],
                "analysis": {
                    k: (report.get("analysis") or {}).get(k) for k in ("summary", "root_causes")
                },
                "error": report.get("error"),
            }
        finally:
            await engine.dispose()


def _counts(values: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[str(v)] = out.get(str(v), 0) + 1
    return out


def _diff(old: str, new: str) -> str:
    return "\n".join(
        difflib.unified_diff(
            old.splitlines(), new.splitlines(), "sabotage", "promoted", lineterm=""
        )
    )


@contextlib.contextmanager
def model_server(config: BenchConfig) -> Iterator[BenchConfig]:
    """With ``--provider local``: the local model (assembled and verified by the local
    provider's registry) behind its supervised llama.cpp server on a free port, one slot;
    the benchmark then talks to it as an OpenAI-compatible URL. Other providers as given."""
    if config.provider != "local":
        yield config
        return
    from selfheal.llm.providers.local.models import DEFAULT_MODEL, resolve_model
    from selfheal.llm.providers.local.server import ModelServer, ServerConfig

    llm = get_settings().llm
    alias, path = resolve_model(config.model or DEFAULT_MODEL, llm.models_dir)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = ModelServer(
        ServerConfig(
            model_path=path,
            alias=alias,
            port=port,
            n_ctx=max(8192, llm.local_n_ctx),
            parallel=1,
            threads=llm.local_threads,
        ),
        start_timeout_s=llm.local_start_timeout_s,
    )
    server.start()
    try:
        server.wait_ready()
        yield dataclasses.replace(config, provider=f"{server.url}/v1", model=alias)
    finally:
        server.stop()


async def run_real_heal_benchmark(config: BenchConfig, *, output_dir: Path) -> dict[str, Any]:
    """Run every configured cycle; write ``heal-<source>.json``/``.md``/``.png`` to ``output_dir``."""
    with model_server(config) as served:
        summary = await _run(served, output_dir=output_dir)
    if config.provider == "local":
        summary["provider"] = "local"
        write_reports(summary, output_dir)
    return summary


async def _run(config: BenchConfig, *, output_dir: Path) -> dict[str, Any]:
    if config.simulation:
        visible, heldout = simulator_tasks(config.visible, config.heldout)
    else:
        visible, heldout = humaneval_tasks(config.visible, config.heldout, seed=config.seed)
    unknown = sorted(set(config.sabotage) - set(SABOTAGE))
    if unknown:
        raise ValueError(f"unknown sabotage prompt(s) {unknown}; known: {sorted(SABOTAGE)}")
    sandbox = build_sandbox(get_settings().sandbox)
    await sandbox.start()
    system = InProcessSystem(config, sandbox)
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="selfheal-bench-heal-") as tmp:
            bench = Bench(config, system, Path(tmp))
            kind = (
                "SIMULATION (offline model)"
                if config.simulation
                else f"real model ({config.provider})"
            )
            bench.say(
                f"heal benchmark, {kind}: {len(visible)} visible + {len(heldout)} held-out tasks"
            )
            good_rows: list[dict[str, Any]] = []
            good_visible = await _good_phase(bench, visible, good_rows)
            good_heldout = await bench.phase("good prompt, held-out", GOOD_PROMPT, heldout)
            cycles: list[dict[str, Any]] = []
            for history in config.history_modes:
                for sabotage in config.sabotage:
                    if cycles:  # what is done so far survives an interrupted run
                        write_reports(
                            _summary(
                                config,
                                visible,
                                heldout,
                                good_visible,
                                good_heldout,
                                cycles,
                                time.monotonic() - started,
                            ),
                            output_dir,
                        )
                    cycles.append(
                        await bench.cycle(
                            sabotage,
                            history=history,
                            visible=visible,
                            heldout=heldout,
                            good_visible=good_rows,
                        )
                    )
    finally:
        await system.aclose()
        await sandbox.aclose()
    summary = _summary(
        config, visible, heldout, good_visible, good_heldout, cycles, time.monotonic() - started
    )
    write_reports(summary, output_dir)
    return summary


async def _good_phase(bench: Bench, visible: list[BenchTask], rows: list[dict[str, Any]]) -> Phase:
    """The good prompt on the visible tasks, keeping the log rows for the history cycles."""
    started = time.monotonic()
    results: dict[str, bool] = {}
    categories: dict[str, str | None] = {}
    for task in visible:
        outcome, row = await bench.system.answer(GOOD_PROMPT, _item(task))
        row["prompt_status"] = PromptStatus.ACTIVE.value
        rows.append(row)
        results[task.id], categories[task.id] = outcome.passed, outcome.category
    phase = Phase("good prompt, visible", results, categories, round(time.monotonic() - started, 1))
    bench.say(f"  good prompt, visible: pass@1 {phase.pass_at_1:.0%} in {phase.seconds:.0f} s")
    return phase


GOAL_HEALED_WITHIN = 0.05  # held-out pass@1 after healing within 5 points of the good prompt's
GOAL_SABOTAGE_AT_MOST = 0.20  # ... and the sabotage must really break the model


def _summary(
    config: BenchConfig,
    visible: list[BenchTask],
    heldout: list[BenchTask],
    good_visible: Phase,
    good_heldout: Phase,
    cycles: list[dict[str, Any]],
    seconds: float,
) -> dict[str, Any]:
    for c in cycles:
        c["goal_sabotage_breaks"] = c["heldout_pass_at_1_sabotage"] <= GOAL_SABOTAGE_AT_MOST
        c["goal_healed"] = (
            c["heldout_pass_at_1_healed"] >= good_heldout.pass_at_1 - GOAL_HEALED_WITHIN - 1e-9
        )
    opt = config.optimizer
    return {
        "source": "simulation" if config.simulation else "real model",
        "provider": config.provider,
        "model": config.model,
        "judge": config.judge,
        "tasks": {
            "set": "simulator catalogue" if config.simulation else "HumanEval",
            "visible": [t.id for t in visible],
            "heldout": [t.id for t in heldout],
            "seed": config.seed,
        },
        "optimizer_settings": {
            k: getattr(opt, k)
            for k in (
                "candidates",
                "refine_rounds",
                "replay_concurrency",
                "replay_timeout_s",
                "run_budget_s",
                "context_tokens",
                "llm_max_tokens",
                "history_candidates",
                "min_improvement",
            )
        },
        "good_prompt": {
            "visible_pass_at_1": round(good_visible.pass_at_1, 4),
            "heldout_pass_at_1": round(good_heldout.pass_at_1, 4),
            "visible": good_visible.results,
            "heldout": good_heldout.results,
        },
        "goals": {
            "heldout_healed_within": GOAL_HEALED_WITHIN,
            "heldout_sabotage_at_most": GOAL_SABOTAGE_AT_MOST,
        },
        "cycles": cycles,
        "total_s": round(seconds, 1),
    }


def _name(summary: dict[str, Any]) -> str:
    return "heal-simulation" if summary["source"] == "simulation" else "heal-real"


def write_reports(summary: dict[str, Any], output_dir: Path) -> None:
    """``<name>.json`` (everything), ``<name>.md`` (tables, prompts, diffs), ``<name>.png``."""
    output_dir.mkdir(parents=True, exist_ok=True)
    name = _name(summary)
    (output_dir / f"{name}.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    (output_dir / f"{name}.md").write_text(render_markdown(summary), encoding="utf-8")
    plot(summary, output_dir / f"{name}.png")


def render_markdown(summary: dict[str, Any]) -> str:
    good = summary["good_prompt"]
    sim = summary["source"] == "simulation"
    model = f" model `{summary['model']}`" if summary["model"] else ""
    lines = [
        f"# Heal benchmark — {'SIMULATION (offline model: plumbing, not capability)' if sim else 'real model'}",
        "",
        f"Provider `{summary['provider']}`{model}, "
        f"judge: {summary['judge']}; tasks: {summary['tasks']['set']}, "
        f"{len(summary['tasks']['visible'])} visible + {len(summary['tasks']['heldout'])} held-out; "
        f"{summary['total_s'] / 60:.0f} min in all.",
        "",
        f"Good prompt: visible pass@1 {good['visible_pass_at_1']:.0%}, held-out pass@1 "
        f"{good['heldout_pass_at_1']:.0%}.",
        "",
        "| sabotage | history | held-out: sabotage | held-out: healed | visible: sabotage | visible: healed (replay) | decision | promoted from | time to heal (s) | optimizer calls | tokens in/out | goals (≤20% / within 5 pts) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in summary["cycles"]:
        lines.append(
            f"| {c['sabotage']} | {'with' if c['history'] else 'without'} | "
            f"{c['heldout_pass_at_1_sabotage']:.0%} | {c['heldout_pass_at_1_healed']:.0%} | "
            f"{c['visible_pass_at_1_sabotage']:.0%} | {c['visible_pass_at_1_healed']:.0%} | "
            f"{c['decision']} | {c['promoted_source'] or '–'} | {c['time_to_heal_s'] or '–'} | "
            f"{c['optimizer_llm_calls']} | {c['optimizer_input_tokens']}/{c['optimizer_output_tokens']} | "
            f"{'met' if c['goal_sabotage_breaks'] else 'not met'} / {'met' if c['goal_healed'] else 'not met'} |"
        )
    for c in summary["cycles"]:
        lines += [
            "",
            f"## {c['sabotage']}, {'with' if c['history'] else 'without'} history",
            "",
            f"Decision: {c['decision']} — {c['decision_reason']}",
            "",
        ]
        if c["promoted_diff"]:
            lines += ["```diff", c["promoted_diff"], "```", ""]
        for cand in c["candidates"]:
            status = (
                f"rejected before replay: {cand['rejected']}"
                if cand.get("rejected")
                else f"replay pass rate {cand['pass_rate']:.0%}, mean score {cand['mean_score']:.3f}"
            )
            lines.append(f"- {cand['label']} ({cand['source']}): {status}")
    return "\n".join(lines) + "\n"


def plot(summary: dict[str, Any], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    cycles = summary["cycles"]
    if not cycles:
        return
    labels = [f"{c['sabotage']}\n{'with' if c['history'] else 'no'} history" for c in cycles]
    xs = range(len(cycles))
    width = 0.38
    fig, ax = plt.subplots(figsize=(max(6, 1.8 * len(cycles)), 4))
    ax.bar(
        [x - width / 2 for x in xs],
        [c["heldout_pass_at_1_sabotage"] for c in cycles],
        width,
        color="tab:red",
        label="held-out, sabotage",
    )
    ax.bar(
        [x + width / 2 for x in xs],
        [c["heldout_pass_at_1_healed"] for c in cycles],
        width,
        color="tab:green",
        label="held-out, after healing",
    )
    good = summary["good_prompt"]["heldout_pass_at_1"]
    ax.axhline(good, color="tab:blue", linestyle="--", label=f"good prompt ({good:.0%})")
    ax.axhline(good - GOAL_HEALED_WITHIN, color="tab:blue", linestyle=":", linewidth=1)
    ax.set_xticks(list(xs), labels, fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("held-out pass@1")
    source = "SIMULATION" if summary["source"] == "simulation" else "real model"
    ax.set_title(f"selfheal heal benchmark ({source}: {summary['provider']})", fontsize=10)
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def config_dict(config: BenchConfig) -> dict[str, Any]:
    data = asdict(config)
    data["optimizer"] = config.optimizer.model_dump(mode="json")
    return data
