"""The package's seams hold: the optimizer runs inside the manager or on its own, so it
never imports the manager's package; the shared service code imports no service."""

from __future__ import annotations

import ast
import importlib
import typing
from pathlib import Path

import pytest

from selfheal.services.common.runtime import Runtime

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


@pytest.mark.parametrize(
    ("app", "state"),
    [
        ("selfheal.services.manager.app", "selfheal.services.manager.state:ManagerState"),
        ("selfheal.services.evaluator.app", "selfheal.services.evaluator.state:EvaluatorState"),
    ],
)
def test_service_state_is_typed_not_a_bag(app: str, state: str) -> None:
    """What a service holds is a dataclass of typed fields (no ``dict[str, Any]``), and the
    shared runtime keeps it as one typed object."""
    module, name = state.split(":")
    cls = getattr(importlib.import_module(module), name)
    hints = typing.get_type_hints(cls)
    assert hints and not [f for f, t in hints.items() if typing.get_origin(t) is dict], hints
    runtime_hints = typing.get_type_hints(Runtime)
    assert not [f for f, t in runtime_hints.items() if t == dict[str, typing.Any]], runtime_hints
    importlib.import_module(app)
