"""How the trusted side splits tests into units, and what the code's process is sent."""

from __future__ import annotations

import pytest

from selfheal.core.config import SandboxSettings
from selfheal.sandbox import testplan
from selfheal.sandbox.testplan import build_plan


def test_each_assert_and_test_function_is_a_unit_the_rest_is_setup() -> None:
    tests = (
        "import math\n"
        "def helper(x):\n    return x * 2\n"
        "assert f(1) == helper(1)\n"
        "def test_loop():\n    for n in range(3):\n        assert f(n) == 2 * n\n"
        "for n in range(2):\n    assert f(n) >= 0\n"
        "CASES = [1, 2]\n"
    )
    plan = build_plan(tests, "f")
    assert [u.kind for u in plan.units] == [
        "setup",
        "setup",
        "assert",
        "function",
        "block",
        "setup",
    ]
    assert plan.total == 3
    assert [u.name for u in plan.tests] == ["", "test_loop", ""]


def test_humaneval_check_is_inlined_one_unit_per_assert() -> None:
    tests = "def check(candidate):\n    assert candidate(1) == 2\n    assert not candidate(0)\n"
    plan = build_plan(tests + "check(inc)\n", "inc")
    assert [u.source for u in plan.tests] == ["assert inc(1) == 2", "assert not inc(0)"]


def test_the_code_never_receives_the_tests() -> None:
    plan = build_plan("assert f(2) == 'secret-expected'\n", "f")
    job = plan.job("def f(x): return x", "f", SandboxSettings())
    assert "secret-expected" not in job.code
    assert "secret-expected" in job.tests["units"][0]["source"]


def test_budgets_travel_with_the_tests() -> None:
    job = build_plan("assert f()\n", "f").job("", "f", SandboxSettings(timeout_s=1.5))
    assert job.tests["unit_timeout_s"] == 1.5


@pytest.mark.parametrize("tests", ["assert (", "def test_x(:\n  pass", "\x00"])
def test_invalid_tests_are_refused_with_a_sentence(tests: str) -> None:
    with pytest.raises(testplan.TestsInvalid, match="not valid Python"):
        build_plan(tests, None)


def test_async_test_functions_are_units() -> None:
    plan = build_plan("async def test_a():\n    assert await g() == 1\n", "g")
    assert [(u.kind, u.name) for u in plan.units] == [("function", "test_a")]
