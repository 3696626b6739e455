"""The offline model as judge and as test writer: it scores only from evidence it is shown."""

from __future__ import annotations

import ast
import json
import re
from typing import Any

from selfheal.llm.providers.offline.catalog import find_task

_STUB = re.compile(r"raise\s+NotImplementedError|^\s*pass\s*$", re.MULTILINE)


def _is_stub(code: str) -> bool:
    """A function whose body does nothing (``pass``, ``...``, ``raise NotImplementedError``,
    a docstring only); ``class Error(Exception): pass``, a Protocol's or ABC's methods and
    ``@abstractmethod``s are not stubs."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return bool(_STUB.search(code))
    interfaces: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and any(
            name in ast.unparse(base) for base in node.bases for name in ("Protocol", "ABC")
        ):
            interfaces.update(id(n) for n in node.body)
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) or id(node) in interfaces:
            continue
        if any("abstractmethod" in ast.unparse(d) for d in node.decorator_list):
            continue
        body = [
            s
            for s in node.body
            if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))
        ]
        if all(isinstance(s, ast.Pass) for s in body) or any(
            isinstance(s, ast.Raise) and "NotImplementedError" in ast.unparse(s) for s in body
        ):
            return True
    return False


def judge(data: dict[str, Any]) -> dict[str, Any]:
    """Relevance, correctness, quality, safety from the evidence the evaluator collected."""
    request = str(data.get("request", ""))
    code = str(data.get("code") or "")
    evidence = data.get("evidence") or {}
    tests = evidence.get("tests") or {}
    static = evidence.get("static") or {}
    execution = evidence.get("execution") or {}
    reasons: list[str] = []

    if not code.strip():
        return _verdict(0.0, 0.0, 0.0, 1.0, "There is no code in the answer.")

    task = find_task(request)
    functions = set(static.get("functions") or [])
    wanted = evidence.get("entry_point") or (task.entry_point if task else None)
    if wanted and wanted in functions:
        relevance = 1.0
    elif task is not None and functions:
        relevance = 0.6
        reasons.append(f"the code does not define `{wanted}`")
    elif functions:
        words = {w for w in re.findall(r"[a-z]{4,}", request.lower())}
        overlap = sum(1 for f in functions for w in words if w in f.lower())
        relevance = 0.8 if overlap else 0.5
    else:
        relevance = 0.3
        reasons.append("the code defines no function")

    total = int(tests.get("total") or 0)
    passed = int(tests.get("passed") or 0)
    if static.get("syntax_ok") is False:
        correctness = 0.05
        reasons.append(f"the code does not parse: {static.get('syntax_error')}")
    elif execution.get("status") not in (None, "ok"):
        correctness = 0.1
        reasons.append(f"execution ended with {execution.get('status')}")
    elif _is_stub(code):
        correctness = 0.1
        reasons.append("the implementation is a stub")
    elif total:
        correctness = 1.0 if passed == total else 0.3 * passed / total
        reasons.append(f"{passed}/{total} tests passed")
    else:
        correctness = 0.6
        reasons.append("no tests were available to confirm correctness")

    quality = 0.4 + 0.3 * bool(static.get("docstring")) + 0.3 * bool(static.get("type_hints"))
    dangerous = static.get("dangerous") or []
    safety = 0.1 if dangerous else 1.0
    if dangerous:
        reasons.append("dangerous constructs: " + ", ".join(map(str, dangerous)))
    return _verdict(relevance, correctness, quality, safety, "; ".join(reasons) or "looks right")


def _verdict(rel: float, cor: float, qual: float, safe: float, why: str) -> dict[str, Any]:
    return {
        "relevance": round(rel, 3),
        "correctness": round(cor, 3),
        "quality": round(qual, 3),
        "safety": round(safe, 3),
        "reasoning": why[:160],  # JudgeVerdict.reasoning is one short sentence
    }


def write_tests(data: dict[str, Any]) -> dict[str, Any]:
    """Tests for tasks the model knows; none (an empty string) for the rest."""
    task = find_task(str(data.get("request", "")))
    if task is None:
        return {"tests": "", "entry_point": data.get("entry_point")}
    tests = task.tests
    wanted = data.get("entry_point")
    if wanted and wanted != task.entry_point:
        tests = re.sub(rf"\b{re.escape(task.entry_point)}\(", f"{wanted}(", tests)
    return {"tests": tests, "entry_point": wanted or task.entry_point}


def dumps(obj: dict[str, Any]) -> str:
    return json.dumps(obj)
