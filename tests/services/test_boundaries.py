"""The package's seams hold: the optimizer runs inside the manager or on its own, so it
never imports the manager's package; the shared service code imports no service."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SERVICES = Path(__file__).parents[2] / "src/selfheal/services"


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("optimizer", ("selfheal.services.manager",)),
        ("common", ("selfheal.services.manager", "selfheal.services.optimizer")),
        ("worker", ("selfheal.services.manager", "selfheal.services.optimizer")),
        ("evaluator", ("selfheal.services.manager", "selfheal.services.optimizer")),
    ],
)
def test_a_package_does_not_import_what_sits_above_it(
    package: str, forbidden: tuple[str, ...]
) -> None:
    modules = sorted((SERVICES / package).rglob("*.py"))
    assert modules
    found = {
        f"{path.relative_to(SERVICES)} imports {name}"
        for path in modules
        for name in _imports(path)
        if name.startswith(forbidden)
    }
    assert not found, sorted(found)
