"""The offline model as worker: writes code the way its system prompt tells it to."""

from __future__ import annotations

import ast
import re
import textwrap

from selfheal.llm.providers.offline.catalog import Task, find_task
from selfheal.llm.providers.offline.instructions import Instructions

_NAMED = re.compile(r"\b(?:named|called)\s+`?([A-Za-z_][A-Za-z0-9_]*)`?")
_GENERIC_NAME = "solution"


class _StripStyle(ast.NodeTransformer):
    def __init__(self, *, docstrings: bool, hints: bool) -> None:
        self.docstrings, self.hints = docstrings, hints

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.FunctionDef:
        self.generic_visit(node)
        if not self.docstrings and ast.get_docstring(node) is not None:
            node.body = node.body[1:] or [ast.Pass()]
        if not self.hints:
            node.returns = None
            for arg in [*node.args.args, *node.args.kwonlyargs, *node.args.posonlyargs]:
                arg.annotation = None
        return node

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.stmt:
        if self.hints or node.value is None:
            return node
        return ast.copy_location(ast.Assign(targets=[node.target], value=node.value), node)


class _Rename(ast.NodeTransformer):
    def __init__(self, old: str, new: str) -> None:
        self.old, self.new = old, new

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.FunctionDef:
        self.generic_visit(node)
        if node.name == self.old:
            node.name = self.new
        return node

    def visit_Name(self, node: ast.Name) -> ast.Name:
        if node.id == self.old:
            node.id = self.new
        return node


def requested_name(request: str) -> str | None:
    """A function name the request spells out (``named `fib```), if any."""
    match = _NAMED.search(request)
    return match.group(1) if match else None


def render_code(task: Task, rules: Instructions, *, name: str) -> str:
    source = task.reference if rules.edge_cases else task.naive
    tree = ast.parse(textwrap.dedent(source))
    func = next(n for n in tree.body if isinstance(n, ast.FunctionDef))
    if rules.validate_input and task.validation:
        checks = ast.parse(textwrap.dedent(task.validation)).body
        at = 1 if ast.get_docstring(func) is not None else 0
        func.body[at:at] = checks
    tree = _StripStyle(docstrings=rules.docstring, hints=rules.type_hints).visit(tree)
    if name != task.entry_point:
        tree = _Rename(task.entry_point, name).visit(tree)
    return ast.unparse(ast.fix_missing_locations(tree)) + "\n"


def unknown_attempt(request: str, rules: Instructions, *, name: str) -> str:
    """An honest attempt at a task the model does not know: it fails real tests."""
    summary = " ".join(request.split())[:120].replace('"', "'")
    doc = f'    """Attempt at: {summary}"""\n' if rules.docstring else ""
    sig = (
        f"def {name}(*args: object, **kwargs: object) -> object:"
        if rules.type_hints
        else (f"def {name}(*args, **kwargs):")
    )
    return (
        f"{sig}\n{doc}    raise NotImplementedError("
        '"the offline model does not know how to solve this task")\n'
    )


def write_answer(request: str, rules: Instructions) -> str:
    """The worker's reply to ``request`` under ``rules``."""
    if rules.sabotage:
        return "Hello world!"
    task = find_task(request)
    wanted = requested_name(request)
    if rules.exact_name:
        name = wanted or (task.entry_point if task else _GENERIC_NAME)
    else:
        name = _GENERIC_NAME
    code = (
        render_code(task, rules, name=name) if task else unknown_attempt(request, rules, name=name)
    )
    if rules.fenced_code:
        return f"```python\n{code}```"
    return (
        "Sure! Here is a solution to your request.\n\n"
        f"{code}\n"
        "This should work for the usual inputs."
    )
