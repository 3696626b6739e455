"""Static checks: code extraction, parsing, undefined names, dangerous constructs, style."""

from __future__ import annotations

import ast
import builtins
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from selfheal.core import config

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\n(.*?)```", re.DOTALL)
_CODE_LIKE = re.compile(r"^\s*(def |class |import |from \S+ import |return\b|for .+:|if .+:)", re.M)

# The default policy; EVALUATOR_DANGEROUS_IMPORTS / EVALUATOR_DANGEROUS_CALLS replace it.
DANGEROUS_IMPORTS = frozenset(config.DANGEROUS_IMPORTS)
DANGEROUS_CALLS = frozenset(config.DANGEROUS_CALLS)


def extract_code(output: str) -> tuple[str | None, str | None]:
    """The code in a model reply and how it was found: ``fenced``, ``bare`` or None."""
    blocks = [
        body
        for lang, body in _FENCE.findall(output)
        if lang.lower() in ("", "python", "py", "python3")
    ]
    if blocks:
        return "\n\n".join(b.strip("\n") for b in blocks) + "\n", "fenced"
    text = output.strip()
    if not text:
        return None, None
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return (text + "\n", "bare") if _CODE_LIKE.search(text) else (None, None)
    substantive = any(
        isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Import
                   | ast.ImportFrom | ast.Assign | ast.Call | ast.Return)
        for node in ast.walk(tree)
    )  # fmt: skip
    return (text + "\n", "bare") if substantive else (None, None)


@dataclass(slots=True)
class StaticReport:
    syntax_ok: bool
    syntax_error: str | None = None
    functions: list[str] = field(default_factory=list)
    undefined_names: list[str] = field(default_factory=list)
    dangerous: list[str] = field(default_factory=list)
    docstring: bool = False
    type_hints: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def _aliases(tree: ast.Module) -> dict[str, str]:
    """Local name -> what it refers to (``import os as o`` -> o: os; ``from os import fork``)."""
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    aliases[alias.asname] = alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return aliases


def _resolve(name: str | None, aliases: dict[str, str]) -> str | None:
    if name is None:
        return None
    head, _, rest = name.partition(".")
    if head in aliases:
        return aliases[head] + ("." + rest if rest else "")
    return name


def analyse_code(
    code: str, *, dangerous_imports: Iterable[str] = DANGEROUS_IMPORTS,
    dangerous_calls: Iterable[str] = DANGEROUS_CALLS,
) -> StaticReport:  # fmt: skip
    """Parse ``code`` and report structure, undefined names, policy hits and style signals."""
    dangerous_imports, dangerous_calls = frozenset(dangerous_imports), frozenset(dangerous_calls)
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        return StaticReport(syntax_ok=False, syntax_error=f"{exc.msg} (line {exc.lineno})")
    except (ValueError, RecursionError, MemoryError) as exc:
        return StaticReport(syntax_ok=False, syntax_error=type(exc).__name__)
    report = StaticReport(syntax_ok=True)
    aliases = _aliases(tree)
    functions = [n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    report.functions = [f.name for f in functions]
    all_funcs = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    report.docstring = bool(all_funcs) and all(ast.get_docstring(f) for f in all_funcs)
    report.type_hints = bool(all_funcs) and all(
        f.returns is not None or any(a.annotation is not None for a in f.args.args)
        for f in all_funcs
    )
    bound: set[str] = set(dir(builtins)) | {"__name__", "__file__", "__doc__"}
    loaded: dict[str, int] = {}
    danger: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Load):
                loaded.setdefault(node.id, node.lineno)
            else:
                bound.add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.alias):
            bound.add((node.asname or node.name).split(".")[0])
        elif (isinstance(node, ast.ExceptHandler) and node.name) or (
            isinstance(node, ast.MatchAs | ast.MatchStar) and node.name
        ):
            bound.add(node.name)
        if isinstance(node, ast.Import | ast.ImportFrom):
            modules = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
            )
            for module in modules:
                if module.split(".")[0] in dangerous_imports:
                    danger.append(f"import {module}")
        elif isinstance(node, ast.Call):
            name = _dotted(node.func)
            resolved = _resolve(name, aliases)
            if name in dangerous_calls or resolved in dangerous_calls:
                danger.append(f"{resolved}()")
    report.undefined_names = sorted(n for n in loaded if n not in bound)
    report.dangerous = sorted(set(danger))
    return report
