"""Run code and its tests in a sandbox and produce a verdict the code could not forge."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from selfheal.core import metrics
from selfheal.sandbox.base import ExecResult, Sandbox
from selfheal.sandbox.testplan import DECOMPOSED, IN_SANDBOX, TestPlan, judge_check


@dataclass(slots=True)
class TestResult:
    name: str
    status: str  # passed | failed | error
    message: str
    line: int
    guarantee: str


@dataclass(slots=True)
class ExecutionVerdict:
    status: str  # ok | load_error | timeout | violation | crashed
    backend: str
    duration_ms: float
    loaded: bool
    load_error: str | None
    entry_point_defined: bool | None
    tests: list[TestResult] = field(default_factory=list)
    guarantee: str | None = None
    stdout: str = ""
    stderr: str = ""
    output_truncated: bool = False
    violation: str | None = None
    exit_code: int | None = None

    @property
    def passed(self) -> int:
        return sum(1 for t in self.tests if t.status == "passed")

    @property
    def total(self) -> int:
        return len(self.tests)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["passed"] = self.passed
        data["total"] = self.total
        data["stdout"] = self.stdout[-2000:]
        data["stderr"] = self.stderr[-2000:]
        return data


async def run_tests(
    sandbox: Sandbox, *, code: str, plan: TestPlan, entry_point: str | None
) -> ExecutionVerdict:
    """Execute ``code`` then the plan's calls/units in the sandbox; compare on this side."""
    result = await sandbox.run(plan.job(code, entry_point))
    metrics.SANDBOX_LATENCY.labels(result.backend).observe(result.duration_ms / 1000)
    verdict = _verdict(result, plan)
    metrics.SANDBOX_EXECUTIONS.labels(result.backend, verdict.status).inc()
    return verdict


def _verdict(result: ExecResult, plan: TestPlan) -> ExecutionVerdict:
    report = result.report if (result.report and result.report.get("done")) else None
    if result.timed_out or result.violation == "cpu_limit":
        status = "timeout"
    elif report is None:
        status = "violation" if result.violation else "crashed"
    elif not report.get("loaded"):
        status = "load_error"
    else:
        status = "ok"
    observations = (report or {}).get("observations", {}) or {}
    units = (report or {}).get("units", {}) or {}
    ended_early = {
        "timeout": f"the program did not finish within the time limit ({result.violation})",
        "violation": f"the program was stopped by the sandbox ({result.violation})",
        "crashed": f"the program exited (code {result.exit_code}) before the tests could run",
        "load_error": f"the code failed to load: {(report or {}).get('load_error')}",
    }.get(status)
    tests: list[TestResult] = []
    for check in plan.checks:
        if ended_early and check.op != "constant":
            tests.append(TestResult(check.source, "error", ended_early, check.line, DECOMPOSED))
            continue
        state, message = judge_check(check, observations.get(check.id))
        tests.append(TestResult(check.source, state, message, check.line, DECOMPOSED))
    for unit in plan.units:
        name = unit.name or unit.source.splitlines()[0][:200]
        if ended_early:
            tests.append(TestResult(name, "error", ended_early, unit.line, IN_SANDBOX))
            continue
        outcome = units.get(unit.id)
        if not isinstance(outcome, dict):
            tests.append(TestResult(name, "error", "no result reported", unit.line, IN_SANDBOX))
            continue
        tests.append(
            TestResult(
                name,
                str(outcome.get("status", "error")),
                str(outcome.get("message", ""))[:2000],
                unit.line,
                IN_SANDBOX,
            )
        )
    if not tests:
        guarantee = None
    elif all(t.guarantee == DECOMPOSED for t in tests):
        guarantee = DECOMPOSED
    elif all(t.guarantee == IN_SANDBOX for t in tests):
        guarantee = IN_SANDBOX
    else:
        guarantee = "mixed"
    return ExecutionVerdict(
        status=status,
        backend=result.backend,
        duration_ms=result.duration_ms,
        loaded=bool(report and report.get("loaded")),
        load_error=(report or {}).get("load_error"),
        entry_point_defined=(report or {}).get("entry_point_defined"),
        tests=tests,
        guarantee=guarantee,
        stdout=result.stdout,
        stderr=result.stderr,
        output_truncated=result.output_truncated,
        violation=result.violation,
        exit_code=result.exit_code,
    )
