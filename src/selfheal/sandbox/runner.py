"""Run code and its tests in a sandbox and read the verdict off the tests' process.

The tests' process (``harness.run_tests``) is the trusted side of the boundary: it ran every
comparison itself. Its report is still read as untrusted bytes — the tests are client input
and a process can be killed mid-line — so every line is size-checked, parsed, and
validated field by field; anything else becomes a failure with a reason, never an error of
the evaluator.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from selfheal.core import metrics
from selfheal.sandbox.base import ExecResult, Sandbox
from selfheal.sandbox.testplan import TestPlan

TRUSTED = "trusted"  # decided on the tests' side on plain data
DELEGATED = "delegated"  # decided by the code's own operators on its own objects
UnitStatus = Literal["passed", "failed", "error", "timeout", "skipped"]
_STATUSES = frozenset(("passed", "failed", "error", "timeout", "skipped"))
MAX_LINE = 64 * 1024
MAX_MESSAGE = 2000


@dataclass(slots=True)
class TestResult:
    name: str
    status: str  # passed | failed | error | timeout | skipped
    message: str
    line: int
    guarantee: str  # trusted | delegated
    duration_ms: float | None = None


@dataclass(slots=True)
class ExecutionVerdict:
    status: str  # ok | load_error | timeout | violation | crashed
    backend: str
    duration_ms: float
    loaded: bool
    load_error: str | None
    entry_point_defined: bool | None
    tests: list[TestResult] = field(default_factory=list)
    stdout: str = ""
    stderr: str = ""
    output_truncated: bool = False
    violation: str | None = None
    exit_code: int | None = None
    report_problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> int:
        return sum(1 for t in self.tests if t.status == "passed")

    @property
    def trusted_passed(self) -> int:
        return sum(1 for t in self.tests if t.status == "passed" and t.guarantee == TRUSTED)

    @property
    def total(self) -> int:
        return len(self.tests)

    @property
    def guarantee(self) -> str | None:
        """trusted when every passing unit was decided on plain data, else delegated/mixed."""
        kinds = {t.guarantee for t in self.tests if t.status == "passed"}
        if not kinds:
            return None
        return kinds.pop() if len(kinds) == 1 else "mixed"

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(
            passed=self.passed,
            total=self.total,
            trusted_passed=self.trusted_passed,
            guarantee=self.guarantee,
        )
        data["stdout"] = self.stdout[-2000:]
        data["stderr"] = self.stderr[-2000:]
        return data


async def run_tests(
    sandbox: Sandbox, *, code: str, plan: TestPlan, entry_point: str | None
) -> ExecutionVerdict:
    """Execute ``code`` and the plan's units in the sandbox; the verdict comes from the tests'
    process only."""
    result = await sandbox.run(plan.job(code, entry_point, sandbox.settings))
    metrics.SANDBOX_LATENCY.labels(result.backend).observe(result.duration_ms / 1000)
    verdict = read_verdict(result, plan)
    metrics.SANDBOX_EXECUTIONS.labels(result.backend, verdict.status).inc()
    return verdict


@dataclass(slots=True)
class _Report:
    load: dict[str, Any] | None = None
    units: dict[str, dict[str, Any]] = field(default_factory=dict)
    done: bool = False
    problems: list[str] = field(default_factory=list)


def _text(value: Any) -> str:
    return value[:MAX_MESSAGE] if isinstance(value, str) else ""


def parse_report(raw: bytes, plan: TestPlan) -> _Report:
    """The tests' process's JSON lines, validated; whatever does not fit is dropped, noted."""
    report = _Report()
    known = {u.id for u in plan.units}
    for number, line in enumerate(raw.split(b"\n")):
        if not line.strip():
            continue
        if len(line) > MAX_LINE or len(report.problems) > 20:
            report.problems.append(f"line {number}: too long")
            continue
        try:
            entry = json.loads(line)
        except (ValueError, RecursionError):
            report.problems.append(f"line {number}: not JSON")
            continue
        if not isinstance(entry, dict):
            report.problems.append(f"line {number}: not an object")
            continue
        kind = entry.get("kind")
        if kind == "load" and report.load is None:
            report.load = {
                "loaded": entry.get("loaded") is True,
                "load_error": _text(entry.get("load_error")) or None,
                "entry_point_defined": entry.get("entry_point_defined")
                if isinstance(entry.get("entry_point_defined"), bool)
                else None,
                "timed_out": entry.get("timed_out") is True,
            }
        elif kind == "unit":
            unit_id, status = entry.get("id"), entry.get("status")
            if not isinstance(unit_id, str) or not isinstance(status, str):
                report.problems.append(f"line {number}: not a unit of this plan")
                continue
            if unit_id not in known or status not in _STATUSES or unit_id in report.units:
                report.problems.append(f"line {number}: not a unit of this plan")
                continue
            ms = entry.get("ms")
            report.units[unit_id] = {
                "status": status,
                "message": _text(entry.get("message")),
                "trusted": entry.get("trusted") is True,
                "ms": float(ms)
                if isinstance(ms, int | float) and ms == ms and 0 <= ms < 1e9
                else None,
            }
        elif kind == "done":
            report.done = True
        elif kind == "harness_error":
            report.problems.append("the tests' process failed: " + _text(entry.get("message")))
        else:
            report.problems.append(f"line {number}: unknown entry")
    return report


def read_verdict(result: ExecResult, plan: TestPlan) -> ExecutionVerdict:
    report = parse_report(result.report, plan)
    load = report.load
    if load is None:
        if result.timed_out or result.violation == "cpu_limit":
            status = "timeout"
        else:
            status = "violation" if result.violation else "crashed"
    elif not load["loaded"]:
        status = "timeout" if load["timed_out"] else "load_error"
    else:
        status = "ok"
    ended_early = {
        "timeout": "the program did not finish within the time limit",
        "violation": f"the program was stopped by the sandbox ({result.violation})",
        "crashed": "the tests could not run: the sandbox ended the job "
        f"({result.violation or 'no report'})",
        "load_error": f"the code failed to load: {(load or {}).get('load_error')}",
    }.get(status)
    if status == "timeout" and load is not None:
        ended_early = f"the code failed to load: {load.get('load_error')}"
    tests: list[TestResult] = []
    for unit in plan.units:
        outcome = report.units.get(unit.id)
        if unit.kind == "setup":
            if outcome is not None and outcome["status"] not in ("passed", "skipped"):
                tests.append(
                    TestResult(
                        f"setup: {unit.label}",
                        "error",
                        outcome["message"],
                        unit.line,
                        TRUSTED,
                        outcome["ms"],
                    )
                )
            continue
        if ended_early:
            tests.append(TestResult(unit.label, "error", ended_early, unit.line, TRUSTED))
        elif outcome is None:
            why = (
                "the job ran past its time cap"
                if result.timed_out
                else f"the sandbox ended the job ({result.violation})"
                if result.violation
                else "the tests' process reported nothing for it"
            )
            tests.append(TestResult(unit.label, "error", f"not run: {why}", unit.line, TRUSTED))
        else:
            tests.append(
                TestResult(
                    unit.label,
                    outcome["status"],
                    outcome["message"],
                    unit.line,
                    TRUSTED if outcome["trusted"] else DELEGATED,
                    outcome["ms"],
                )
            )
    if status == "ok" and (result.timed_out or any(t.status == "timeout" for t in tests)):
        status = "timeout"
    elif status == "ok" and result.violation and result.violation != "timeout":
        status = "violation"
    return ExecutionVerdict(
        status=status,
        backend=result.backend,
        duration_ms=result.duration_ms,
        loaded=bool(load and load["loaded"]),
        load_error=(load or {}).get("load_error"),
        entry_point_defined=(load or {}).get("entry_point_defined"),
        tests=tests,
        stdout=result.stdout,
        stderr=result.stderr,
        output_truncated=result.output_truncated,
        violation=result.violation,
        exit_code=result.exit_code,
        report_problems=report.problems[:20],
    )
