"""The trusted side's reading of the tests: which statements are test units.

Every top-level ``assert`` is a unit, and so is every top-level ``def test_*`` function
(called after the module body ran) and every loop/if/with/try that holds an assert. Other
statements (imports, helpers, fixtures, classes) run in order as setup. HumanEval's
``def check(candidate): ...`` + ``check(f)`` is inlined with ``candidate`` bound to the
entry point, so each of its asserts is a unit of its own.

The units run in the tests' own interpreter (``harness.run_tests``), never in the code's,
so no unit's expected value, comparison or helper is within the code's reach; this module
only decides how the tests are split and counted.
"""

from __future__ import annotations

import ast
import base64
import importlib
import marshal
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from types import ModuleType
from typing import Any, Literal

from selfheal.core.config import SandboxSettings
from selfheal.sandbox.base import Job

UnitKind = Literal["setup", "assert", "block", "function"]


class TestsInvalid(ValueError):
    """The tests themselves are not valid Python."""


@dataclass(slots=True, frozen=True)
class Unit:
    id: str
    kind: UnitKind
    source: str
    name: str
    line: int

    @property
    def label(self) -> str:
        return self.name or self.source.splitlines()[0][:200]


@dataclass(slots=True)
class TestPlan:
    units: list[Unit] = field(default_factory=list)
    # each unit compiled (assert rewriting included) by this interpreter, made once per plan
    _bytecode: list[str] | None = field(default=None, repr=False, compare=False)

    @property
    def tests(self) -> list[Unit]:
        """The units that count as tests (setup only shows when it fails)."""
        return [u for u in self.units if u.kind != "setup"]

    @property
    def total(self) -> int:
        return len(self.tests)

    def job(self, code: str, entry_point: str | None, settings: SandboxSettings) -> Job:
        """What the sandbox runs: the code for the code's process, the plan for the tests'.

        Each unit also travels compiled, so that the tests' process need not parse and
        rewrite it for every job; the harness uses that bytecode only when its interpreter
        has the same cache tag, and compiles the source itself otherwise."""
        if self._bytecode is None:
            self._bytecode = [_compiled(u) for u in self.units]
        return Job(
            code=code,
            tests={
                "entry_point": entry_point,
                "unit_timeout_s": settings.timeout_s,
                "load_timeout_s": settings.timeout_s,
                "bytecode_tag": sys.implementation.cache_tag,
                "uses_pytest": any("pytest" in u.source for u in self.units),
                "units": [
                    {
                        "id": u.id,
                        "kind": u.kind,
                        "source": u.source,
                        "name": u.name,
                        "line": u.line,
                        "bytecode": b,
                    }
                    for u, b in zip(self.units, self._bytecode, strict=True)
                ],
            },
        )


def _compiled(unit: Unit) -> str:
    """The unit as the harness would compile it (its assert rewriting), marshalled."""
    code = _harness().compile_unit(unit.source, unit.line)
    return base64.b64encode(marshal.dumps(code)).decode("ascii")


@lru_cache(maxsize=1)
def _harness() -> ModuleType:
    # the harness is stdlib-only code written for the sandbox's interpreter, outside mypy
    return importlib.import_module("selfheal.sandbox.harness")


class _Rename(ast.NodeTransformer):
    def __init__(self, old: str, new: str) -> None:
        self.old, self.new = old, new

    def visit_Name(self, node: ast.Name) -> ast.Name:
        if node.id == self.old:
            return ast.copy_location(ast.Name(id=self.new, ctx=node.ctx), node)
        return node


def _inline_check(tree: ast.Module, entry_point: str | None) -> list[ast.stmt]:
    """Replace HumanEval's ``def check(candidate)`` + ``check(f)`` by the body of check."""
    body = list(tree.body)
    check = next(
        (
            s
            for s in body
            if isinstance(s, ast.FunctionDef) and s.name == "check" and len(s.args.args) == 1
        ),
        None,
    )
    if check is None or not entry_point:
        return body
    param = check.args.args[0].arg
    inlined = [_Rename(param, entry_point).visit(s) for s in check.body]
    out: list[ast.stmt] = []
    for stmt in body:
        if stmt is check:
            out.extend(inlined)
        elif (
            isinstance(stmt, ast.Expr)
            and isinstance(stmt.value, ast.Call)
            and isinstance(stmt.value.func, ast.Name)
            and stmt.value.func.id == "check"
        ):
            continue
        else:
            out.append(stmt)
    return out


def _kind(stmt: ast.stmt) -> UnitKind:
    if isinstance(stmt, ast.Assert):
        return "assert"
    if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef) and stmt.name.startswith("test"):
        return "function"
    compound = ast.For | ast.While | ast.With | ast.If | ast.Try | ast.AsyncFor | ast.AsyncWith
    if isinstance(stmt, compound) and any(isinstance(n, ast.Assert) for n in ast.walk(stmt)):
        return "block"
    return "setup"


def build_plan(tests: str, entry_point: str | None) -> TestPlan:
    """Parse ``tests`` into units; raise ``TestsInvalid`` when they do not parse."""
    try:
        tree = ast.parse(tests)
    except (SyntaxError, ValueError) as exc:
        message = exc.msg if isinstance(exc, SyntaxError) else str(exc)
        line = exc.lineno if isinstance(exc, SyntaxError) else "?"
        raise TestsInvalid(f"tests are not valid Python: {message} (line {line})") from exc
    except (RecursionError, MemoryError) as exc:
        raise TestsInvalid("tests are nested too deeply to read") from exc
    plan = TestPlan()
    for index, stmt in enumerate(_inline_check(tree, entry_point)):
        kind = _kind(stmt)
        function = stmt if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef) else None
        name = function.name if kind == "function" and function is not None else ""
        plan.units.append(
            Unit(f"t{index}", kind, ast.unparse(stmt), name, getattr(stmt, "lineno", 0))
        )
    return plan


@lru_cache(maxsize=256)
def cached_plan(tests: str, entry_point: str | None) -> TestPlan:
    """``build_plan`` memoised: the same tests arrive again and again (replays, retries,
    a client's fixed suite). Callers treat the plan as read-only."""
    return build_plan(tests, entry_point)


def plan_summary(plan: TestPlan) -> dict[str, Any]:
    return {"units": plan.total, "setup": len(plan.units) - plan.total}
