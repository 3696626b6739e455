"""Code extraction and static signals."""

from __future__ import annotations

import pytest

from selfheal.services.evaluator.checks import analyse_code, extract_code


@pytest.mark.parametrize(
    ("output", "code", "how"),
    [
        ("```python\ndef f():\n    return 1\n```", "def f():\n    return 1\n", "fenced"),
        # Of several blocks one is the answer (the later one on a tie: models revise).
        ("Here:\n```py\nx = 1\n```\nand\n```python\ny = 2\n```", "y = 2\n", "fenced"),
        ("def f(x):\n    return x\n", "def f(x):\n    return x\n", "bare"),
        ("Hello world!", None, None),
        ("Sure, happy to help.", None, None),
        ("", None, None),
        ("```bash\nrm -rf /\n```", None, None),
    ],
)
def test_extract_code(output: str, code: str | None, how: str | None) -> None:
    assert extract_code(output) == (code, how)


def test_code_between_prose_lines_is_cut_out_of_the_prose() -> None:
    output = "Sure! Here is a solution.\n\ndef f(x):\n    return x\n\nThis should work."
    assert extract_code(output) == ("def f(x):\n    return x\n", "bare")


def test_unfenced_code_that_never_parses_is_still_the_answer_and_a_syntax_error() -> None:
    code, how = extract_code("def f(x)\n    return x\n")
    assert how == "bare" and code is not None
    report = analyse_code(code)
    assert report.syntax_ok is False and report.syntax_error


def test_static_signals() -> None:
    report = analyse_code('def f(x: int) -> int:\n    """Double x."""\n    return helper(x) * 2\n')
    assert report.syntax_ok and report.functions == ["f"]
    assert report.docstring and report.type_hints
    assert report.undefined_names == ["helper"]
    bare = analyse_code("def g(x):\n    return x\n")
    assert not bare.docstring and not bare.type_hints and bare.undefined_names == []


def test_names_bound_anywhere_are_not_undefined() -> None:
    code = (
        "import math\nfrom collections import Counter as C\n"
        "def f(items):\n    total = 0\n    for i, v in enumerate(items):\n        total += v\n"
        "    try:\n        pass\n    except ValueError as err:\n        raise err\n"
        "    return [math.sqrt(t) for t in C(items)] + [total]\n"
    )
    assert analyse_code(code).undefined_names == []
