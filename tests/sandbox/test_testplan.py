"""The trusted side of a test run: what the child is told, and how its answers are judged."""

from __future__ import annotations

import json

from selfheal.sandbox.testplan import DECOMPOSED, build_plan, decode, judge_check


def test_expected_values_never_reach_the_child() -> None:
    plan = build_plan("assert f(2) == 'secret-expected'\nassert 41 < f(3)\n", "f")
    job = json.dumps(plan.job("def f(x): return x", "f"))
    assert "secret-expected" not in job
    assert "41" not in job
    assert [c.expr for c in plan.checks] == ["f(2)", "f(3)"]


def test_humaneval_check_is_inlined_and_decomposed() -> None:
    tests = "def check(candidate):\n    assert candidate(1) == 2\n    assert not candidate(0)\n"
    plan = build_plan(tests + "check(inc)\n", "inc")
    assert [(c.expr, c.op) for c in plan.checks] == [("inc(1)", "Eq"), ("inc(0)", "falsy")]
    assert plan.units == []


def test_test_functions_of_plain_asserts_are_decomposed() -> None:
    tests = (
        "def test_small():\n    '''doc'''\n    assert f(1) == 2\n    assert f(2) == 3\n"
        "def test_computed():\n    x = f(1)\n    assert x == 2\n"
    )
    plan = build_plan(tests, "f")
    assert [c.source for c in plan.checks] == [
        "test_small: assert f(1) == 2",
        "test_small: assert f(2) == 3",
    ]
    assert [u.name for u in plan.units] == ["test_computed"]


def test_modules_the_tests_import_are_guarded() -> None:
    plan = build_plan("import math\nfrom collections import Counter\nassert f(1)\n", "f")
    assert plan.guard == ["collections", "math"]
    assert plan.job("", "f")["guard"] == ["collections", "math"]


def test_values_that_are_not_plain_data_equal_nothing() -> None:
    check = build_plan("assert f(1) == 1\n", "f").checks[0]
    forged = {"ok": True, "value": {"t": "repr", "type": "AlwaysEqual", "v": "<obj>"}}
    assert judge_check(check, forged)[0] == "failed"
    assert judge_check(check, {"ok": True, "value": {"t": "int", "v": "1"}}) == ("passed", "")
    assert judge_check(check, None)[0] == "error"
    assert decode({"t": "tuple", "v": [{"t": "int", "v": "1"}]}) == (1,)


def test_guarantee_name_is_stable() -> None:
    assert DECOMPOSED == "decomposed"


def test_loops_over_literal_cases_are_unrolled_and_decomposed() -> None:
    tests = "for n, want in [(0, 0), (10, 55), (20, 6765)]:\n    assert fib(n) == want\n"
    plan = build_plan(tests, "fib")
    assert plan.units == []
    assert [(c.expr, c.expected) for c in plan.checks] == [
        ("fib(0)", 0),
        ("fib(10)", 55),
        ("fib(20)", 6765),
    ]
    job = json.dumps(plan.job("def fib(n): return n", "fib"))
    assert "6765" not in job and "55" not in job


def test_loops_that_cannot_be_unrolled_run_whole() -> None:
    computed = build_plan("for n in range(3):\n    assert f(n) == n\n", "f")
    mismatched = build_plan("for a, b in [(1, 2, 3)]:\n    assert f(a) == b\n", "f")
    not_literal = build_plan("for n in [1, 2]:\n    assert f(n) == n * 2\n", "f")
    for plan in (computed, mismatched, not_literal):
        assert plan.checks == [] and len(plan.units) == 1
