"""The trusted side of a test run: split tests into calls the child evaluates and
comparisons the child never sees, then judge the child's observations.

``assert <expr> <op> <literal>`` (either side literal; ==, !=, <, <=, >, >=, is, is not,
in, not in), ``assert <expr>`` and ``assert not <expr>`` are *decomposed*: the child
only evaluates ``<expr>`` and returns the value as tagged plain data; the expected
literal and the comparison stay here, and so do ``def test_*()`` functions whose body is
only such asserts. Everything else (loops, helpers, asserts against computed values)
runs whole in the child and is marked ``in_sandbox``.
HumanEval's ``def check(candidate): ...`` is inlined with ``candidate`` bound to the
entry point so its asserts decompose too.
"""

from __future__ import annotations

import ast
import copy
import operator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

DECOMPOSED = "decomposed"
IN_SANDBOX = "in_sandbox"

_OPS: dict[type[ast.cmpop], Any] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Is: operator.is_,
    ast.IsNot: operator.is_not,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}
_SWAPPED: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Eq: ast.Eq,
    ast.NotEq: ast.NotEq,
    ast.Lt: ast.Gt,
    ast.LtE: ast.GtE,
    ast.Gt: ast.Lt,
    ast.GtE: ast.LtE,
    ast.Is: ast.Is,
    ast.IsNot: ast.IsNot,
}


class TestsInvalid(ValueError):
    """The tests themselves are not valid Python."""


@dataclass(slots=True)
class Check:
    """A decomposed assert: the child evaluates ``expr``; we apply ``op`` against ``expected``."""

    id: str
    expr: str
    op: str  # "truthy", "falsy" or an ast.cmpop class name, observed on the left
    expected: Any
    line: int
    source: str


@dataclass(slots=True)
class Unit:
    id: str
    source: str
    kind: str  # "assert" | "function"
    name: str
    line: int


@dataclass(slots=True)
class TestPlan:
    setup: str = ""
    checks: list[Check] = field(default_factory=list)
    units: list[Unit] = field(default_factory=list)
    guard: list[str] = field(default_factory=list)  # modules the tests import

    @property
    def total(self) -> int:
        return len(self.checks) + len(self.units)

    def job(self, code: str, entry_point: str | None) -> dict[str, Any]:
        """The JSON job the harness receives: no expected value of a decomposed check in it."""
        return {
            "code": code,
            "entry_point": entry_point,
            "setup": self.setup,
            "calls": [{"id": c.id, "expr": c.expr} for c in self.checks],
            "units": [
                {"id": u.id, "source": u.source, "kind": u.kind, "name": u.name} for u in self.units
            ],
            "guard": self.guard,
        }


def _literal(node: ast.expr) -> tuple[bool, Any]:
    try:
        return True, ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False, None


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


def build_plan(tests: str, entry_point: str | None) -> TestPlan:
    """Parse ``tests`` into a plan; raise ``TestsInvalid`` when they do not parse."""
    try:
        tree = ast.parse(tests)
    except SyntaxError as exc:
        raise TestsInvalid(f"tests are not valid Python: {exc.msg} (line {exc.lineno})") from exc
    plan = TestPlan(guard=_imported_modules(tree))
    setup: list[str] = []
    for index, stmt in enumerate(_inline_check(tree, entry_point)):
        ident = f"t{index}"
        line = getattr(stmt, "lineno", 0)
        if isinstance(stmt, ast.Assert):
            check = _decompose(stmt, ident, line)
            if check is not None:
                plan.checks.append(check)
            else:
                plan.units.append(Unit(ident, ast.unparse(stmt), "assert", "", line))
        elif isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef) and stmt.name.startswith(
            "test"
        ):
            checks = _decompose_function(stmt, ident)
            if checks is not None:
                plan.checks.extend(checks)
            else:
                plan.units.append(Unit(ident, ast.unparse(stmt), "function", stmt.name, line))
        elif isinstance(stmt, ast.For) and (unrolled := _unroll_for(stmt, ident)) is not None:
            plan.checks.extend(unrolled)
        elif isinstance(stmt, ast.For | ast.While | ast.With | ast.If | ast.Try):
            if any(isinstance(n, ast.Assert) for n in ast.walk(stmt)):
                plan.units.append(Unit(ident, ast.unparse(stmt), "assert", "", line))
            else:
                setup.append(ast.unparse(stmt))
        else:
            setup.append(ast.unparse(stmt))
    plan.setup = "\n".join(setup)
    return plan


MAX_UNROLL = 1000


class _Bind(ast.NodeTransformer):
    """Replace loads of loop variables by the literal values of one iteration."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values

    def visit_Name(self, node: ast.Name) -> ast.expr:
        if isinstance(node.ctx, ast.Load) and node.id in self.values:
            literal = ast.parse(repr(self.values[node.id]), mode="eval").body
            return ast.copy_location(literal, node)
        return node


def _bind_target(target: ast.expr, value: Any, out: dict[str, Any]) -> bool:
    if isinstance(target, ast.Name):
        out[target.id] = value
        return True
    if isinstance(target, ast.Tuple | ast.List) and isinstance(value, tuple | list):
        if len(target.elts) != len(value):
            return False
        return all(_bind_target(t, v, out) for t, v in zip(target.elts, value, strict=True))
    return False


def _reprs_round_trip(value: Any) -> bool:
    try:
        return bool(ast.literal_eval(repr(value)) == value)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False


def _unroll_for(loop: ast.For, ident: str) -> list[Check] | None:
    """``for x, want in [(1, 1), (10, 55)]: assert fib(x) == want`` over a literal becomes one
    decomposed check per iteration, so the expected values never reach the child either."""
    if loop.orelse or not loop.body or not all(isinstance(s, ast.Assert) for s in loop.body):
        return None
    ok, items = _literal(loop.iter)
    if not ok or not isinstance(items, list | tuple) or not 0 < len(items) <= MAX_UNROLL:
        return None
    checks: list[Check] = []
    for n, item in enumerate(items):
        bound: dict[str, Any] = {}
        if not _bind_target(loop.target, item, bound) or not all(
            _reprs_round_trip(v) for v in bound.values()
        ):
            return None
        for k, stmt in enumerate(loop.body):
            assert isinstance(stmt, ast.Assert)
            concrete = ast.fix_missing_locations(_Bind(bound).visit(copy.deepcopy(stmt)))
            check = _decompose(concrete, f"{ident}_{n}_{k}", stmt.lineno)
            if check is None or (check.op != "constant" and _uses_locals(check.expr)):
                return None
            if any(isinstance(node, ast.Name) and node.id in bound
                   for node in ast.walk(ast.parse(check.expr or "None", mode="eval"))):  # fmt: skip
                return None
            checks.append(check)
    return checks


def _imported_modules(tree: ast.Module) -> list[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return sorted(names)


def _decompose_function(
    fn: ast.FunctionDef | ast.AsyncFunctionDef, ident: str
) -> list[Check] | None:
    """A ``def test_x():`` made only of decomposable asserts becomes one check per assert."""
    if isinstance(fn, ast.AsyncFunctionDef) or fn.decorator_list or _has_params(fn.args):
        return None
    body = fn.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # docstring
    if not body or not all(isinstance(stmt, ast.Assert) for stmt in body):
        return None
    checks = []
    for index, stmt in enumerate(body):
        assert isinstance(stmt, ast.Assert)
        check = _decompose(stmt, f"{ident}_{index}", stmt.lineno)
        if check is None or (check.op != "constant" and _uses_locals(check.expr)):
            return None
        check.source = f"{fn.name}: {check.source}"
        checks.append(check)
    return checks


def _has_params(args: ast.arguments) -> bool:
    return bool(args.posonlyargs or args.args or args.vararg or args.kwonlyargs or args.kwarg)


def _uses_locals(expr: str) -> bool:
    """Walrus or comprehension scopes behave differently outside the function: keep it whole."""
    tree = ast.parse(expr, mode="eval")
    return any(isinstance(n, ast.NamedExpr | ast.Lambda) for n in ast.walk(tree))


def _decompose(stmt: ast.Assert, ident: str, line: int) -> Check | None:
    test = stmt.test
    source = ast.unparse(stmt)
    is_lit, value = _literal(test)
    if is_lit:  # `assert True` — nothing for the child to do
        return Check(ident, "", "constant", bool(value), line, source)
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        if _literal(test.operand)[0]:
            return None
        return Check(ident, ast.unparse(test.operand), "falsy", None, line, source)
    if isinstance(test, ast.Compare) and len(test.ops) == 1:
        left, right, op = test.left, test.comparators[0], type(test.ops[0])
        left_lit, left_val = _literal(left)
        right_lit, right_val = _literal(right)
        if right_lit and not left_lit and op in _OPS:
            return Check(ident, ast.unparse(left), op.__name__, right_val, line, source)
        if left_lit and not right_lit and op in _SWAPPED:
            return Check(ident, ast.unparse(right), _SWAPPED[op].__name__, left_val, line, source)
        return None
    if isinstance(test, ast.Compare | ast.BoolOp):
        return None
    return Check(ident, ast.unparse(test), "truthy", None, line, source)


class Opaque:
    """A value the child could not express as plain data: equal to nothing."""

    def __init__(self, type_name: str, text: str) -> None:
        self.type_name, self.text = type_name, text

    def __eq__(self, other: object) -> bool:
        return False

    def __hash__(self) -> int:
        return id(self)

    def __bool__(self) -> bool:
        raise TypeError(f"truth value of a {self.type_name} object is not plain data")

    def __repr__(self) -> str:
        return f"<{self.type_name}: {self.text}>"


def decode(tagged: Any) -> Any:
    """Turn the harness's tagged encoding back into builtin values (never user classes)."""
    if not isinstance(tagged, dict):
        return Opaque("malformed", repr(tagged)[:100])
    kind = tagged.get("t")
    value = tagged.get("v")
    if kind == "none":
        return None
    if kind == "bool":
        return bool(value)
    if kind == "int":
        return int(str(value))
    if kind == "float":
        return float(str(value))
    if kind == "str":
        return str(value)
    if kind in ("list", "tuple", "set", "dict") and isinstance(value, list):
        if kind == "list":
            return [decode(v) for v in value]
        if kind == "tuple":
            return tuple(decode(v) for v in value)
        try:
            if kind == "set":
                return {decode(v) for v in value}
            return {decode(k): decode(v) for k, v in value}
        except (TypeError, ValueError):
            return Opaque(kind, "unhashable")
    return Opaque(str(tagged.get("type", kind)), str(value)[:200])


def judge_check(check: Check, observation: dict[str, Any] | None) -> tuple[str, str]:
    """(status, message) for one decomposed check, decided here and only here."""
    if check.op == "constant":
        return ("passed", "") if check.expected else ("failed", f"{check.source} is always false")
    if observation is None:
        return "error", "the program ended before this check was evaluated"
    if not observation.get("ok"):
        return "error", str(observation.get("error", "error"))[:2000]
    observed = decode(observation.get("value"))
    try:
        if check.op == "truthy":
            ok = bool(observed)
        elif check.op == "falsy":
            ok = not bool(observed)
        else:
            ok = bool(_OPS[getattr(ast, check.op)](observed, check.expected))
    except Exception as exc:  # comparing hostile/odd values must never crash the evaluator
        return "failed", f"could not compare {observed!r}: {type(exc).__name__}"
    if ok:
        return "passed", ""
    return "failed", f"{check.expr} returned {observed!r}"[:2000]


@lru_cache(maxsize=256)
def cached_plan(tests: str, entry_point: str | None) -> TestPlan:
    """``build_plan`` memoised: the same tests arrive again and again (replays, retries,
    a client's fixed suite). Callers treat the plan as read-only."""
    return build_plan(tests, entry_point)
