"""Code extraction from replies shaped the way models write them.

Each reply is the kind of answer a chat model gives (prose, several blocks, a usage example,
shell output, a REPL session); the expected code is what a person would run.
"""

from __future__ import annotations

import pytest

from selfheal.services.evaluator.checks import analyse_code, extract_code

SOLUTION = "def is_palindrome(s: str) -> bool:\n    t = [c.lower() for c in s if c.isalnum()]\n    return t == t[::-1]\n"

TILDE = f"""Here's a clean implementation:

~~~python
{SOLUTION}~~~

It ignores punctuation and case."""

TILDE_NO_LANG = f"~~~\n{SOLUTION}~~~\n"

LONG_FENCE = f"````python\n{SOLUTION}````\n"

UPPER_LANG = f"```Python\n{SOLUTION}```"

INFO_WITH_ATTRIBUTES = f'```python title="palindrome.py"\n{SOLUTION}```'

PANDOC_INFO = f"```{{.python}}\n{SOLUTION}```"

CUT_OFF = f"Sure! Here is the function:\n\n```python\n{SOLUTION}"

WITH_SHELL_OUTPUT = f"""```python
{SOLUTION}
if __name__ == "__main__":
    print(is_palindrome("A man, a plan, a canal: Panama"))
```

Running it:

```
$ python palindrome.py
True
```"""

WITH_CONSOLE_BLOCK = f"""```python
{SOLUTION}```

```console
$ python -c 'from palindrome import is_palindrome; print(is_palindrome("abba"))'
True
```"""

WITH_REPL_EXAMPLE = f"""```python
{SOLUTION}```

Example:

```
>>> is_palindrome("racecar")
True
>>> is_palindrome("hello")
False
```"""

WITH_PYCON_EXAMPLE = f"```python\n{SOLUTION}```\n\n```pycon\n>>> is_palindrome('abba')\nTrue\n```"

ONLY_REPL = """You can do it like this:

```python
>>> def is_palindrome(s):
...     t = [c.lower() for c in s if c.isalnum()]
...     return t == t[::-1]
...
>>> is_palindrome("Racecar")
True
```"""

CODE_TAG = f"<code>\n{SOLUTION}</code>"

CODE_TAG_UPPER = f"Answer:\n<CODE>\n{SOLUTION}</CODE>"

PYTHON_TAG = f"<python>\n{SOLUTION}</python>"

PYTHON_TAG_MIXED_CASE = f"<Python>\n{SOLUTION}</Python>"

PRE_CODE_HTML = (
    '<pre><code class="language-python">def lt(a, b):\n    return a &lt; b\n</code></pre>'
)

UNTERMINATED_TAG = f"<code>\n{SOLUTION}"

INDENTED_IN_LIST = """Steps:

1. Write the function:

   ```python
   def is_palindrome(s: str) -> bool:
       t = [c.lower() for c in s if c.isalnum()]
       return t == t[::-1]
   ```
2. Call it."""

IMPORTS_THEN_FUNCTION = """First the imports:

```python
from collections import Counter
```

Then the function:

```python
def top_word(text: str) -> str:
    return Counter(text.split()).most_common(1)[0][0]
```

Usage:

```python
print(top_word("a b a"))
```"""

REVISED = """A first attempt:

```python
def is_palindrome(s):
    return s == s[::-1]
```

That misses case and punctuation. Improved:

```python
def _clean(s):
    return [c.lower() for c in s if c.isalnum()]

def is_palindrome(s):
    t = _clean(s)
    return t == t[::-1]
```"""

TESTS_BLOCK_AFTER = f"""```python
{SOLUTION}```

And some tests:

```python
assert is_palindrome("abba")
assert not is_palindrome("abc")
```"""


@pytest.mark.parametrize(
    ("reply", "how"),
    [
        pytest.param(TILDE, "fenced", id="tilde-fence"),
        pytest.param(TILDE_NO_LANG, "fenced", id="tilde-no-language"),
        pytest.param(LONG_FENCE, "fenced", id="four-backticks"),
        pytest.param(UPPER_LANG, "fenced", id="Python-capitalised"),
        pytest.param(INFO_WITH_ATTRIBUTES, "fenced", id="info-string-attributes"),
        pytest.param(PANDOC_INFO, "fenced", id="pandoc-info"),
        pytest.param(CUT_OFF, "fenced", id="unterminated-final-fence"),
        pytest.param(WITH_CONSOLE_BLOCK, "fenced", id="console-block-after"),
        pytest.param(WITH_REPL_EXAMPLE, "fenced", id="repl-example-after"),
        pytest.param(WITH_PYCON_EXAMPLE, "fenced", id="pycon-example-after"),
        pytest.param(CODE_TAG, "tagged", id="code-tag"),
        pytest.param(CODE_TAG_UPPER, "tagged", id="CODE-tag"),
        pytest.param(PYTHON_TAG, "tagged", id="python-tag"),
        pytest.param(PYTHON_TAG_MIXED_CASE, "tagged", id="Python-tag"),
        pytest.param(UNTERMINATED_TAG, "tagged", id="unterminated-tag"),
        pytest.param(INDENTED_IN_LIST, "fenced", id="fence-indented-in-a-list"),
    ],
)
def test_the_solution_is_found_in_every_fence_shape(reply: str, how: str) -> None:
    code, found = extract_code(reply, entry_point="is_palindrome")
    assert (code, found) == (SOLUTION, how)
    assert code is not None and analyse_code(code).syntax_ok


def test_shell_output_in_a_second_fence_is_not_code() -> None:
    code, how = extract_code(WITH_SHELL_OUTPUT, entry_point="is_palindrome")
    assert how == "fenced" and code is not None
    assert "$ python" not in code and analyse_code(code).syntax_ok
    assert code.startswith(SOLUTION)


def test_a_repl_session_that_is_the_only_code_becomes_code() -> None:
    code, how = extract_code(ONLY_REPL, entry_point="is_palindrome")
    assert how == "interactive" and code is not None
    assert ">>>" not in code and "True" not in code.splitlines()
    assert analyse_code(code).functions == ["is_palindrome"]


def test_an_unfenced_repl_session_becomes_code() -> None:
    code, how = extract_code(">>> import math\n>>> math.sqrt(16)\n4.0\n")
    assert (code, how) == ("import math\nmath.sqrt(16)\n", "interactive")


def test_html_escapes_inside_pre_code_are_undone() -> None:
    assert extract_code(PRE_CODE_HTML) == ("def lt(a, b):\n    return a < b\n", "tagged")


def test_imports_in_another_block_come_with_the_function() -> None:
    code, _ = extract_code(IMPORTS_THEN_FUNCTION, entry_point="top_word")
    assert code == (
        "from collections import Counter\n\n"
        "def top_word(text: str) -> str:\n    return Counter(text.split()).most_common(1)[0][0]\n"
    )


def test_the_last_block_defining_the_entry_point_wins() -> None:
    code, _ = extract_code(REVISED, entry_point="is_palindrome")
    assert code is not None and "_clean" in code
    assert analyse_code(code).functions == ["_clean", "is_palindrome"]


def test_without_an_entry_point_the_block_with_most_code_wins() -> None:
    code, _ = extract_code(TESTS_BLOCK_AFTER)
    assert code == SOLUTION


def test_a_tests_block_is_not_chosen_over_the_definition() -> None:
    code, _ = extract_code(TESTS_BLOCK_AFTER, entry_point="is_palindrome")
    assert code == SOLUTION


@pytest.mark.parametrize(
    "reply",
    [
        "I'm sorry, I can't help with that.",
        "```bash\npip install numpy\n```",
        "```text\nTrue\n```",
        "Run `python main.py` and you will see the output.",
        "```\n$ ls\nmain.py\n```",
    ],
)
def test_replies_without_python_have_no_code(reply: str) -> None:
    assert extract_code(reply) == (None, None)


def test_a_broken_python_block_is_the_answer_and_a_syntax_error() -> None:
    code, how = extract_code("```python\ndef f(x)\n    return x\n```\n```\n$ python f.py\n```")
    assert how == "fenced" and code == "def f(x)\n    return x\n"
    assert analyse_code(code).syntax_ok is False


def test_a_huge_reply_is_extracted_quickly() -> None:
    import time

    reply = ("Some prose line that is not code.\n" * 20_000) + "def f():\n    return 1\n"
    start = time.perf_counter()
    code, how = extract_code(reply)
    assert time.perf_counter() - start < 2.0
    assert how == "bare" and code is not None


PYTEST_BLOCK_AFTER = f"""```python
{SOLUTION}```

Tests:

```python
import pytest
from solution import is_palindrome

def test_simple():
    assert is_palindrome("abba")

def test_punctuation():
    assert is_palindrome("A man, a plan, a canal: Panama")
```"""


def test_a_pytest_block_is_not_the_answer_even_with_more_functions() -> None:
    assert extract_code(PYTEST_BLOCK_AFTER) == (SOLUTION, "fenced")


def test_windows_line_endings() -> None:
    reply = "Here:\r\n```python\r\n" + SOLUTION.replace("\n", "\r\n") + "```\r\nDone.\r\n"
    assert extract_code(reply, entry_point="is_palindrome") == (SOLUTION, "fenced")


def test_a_fence_opened_after_prose_on_the_same_line() -> None:
    reply = f"Sure! ```python\n{SOLUTION}```"
    assert extract_code(reply, entry_point="is_palindrome") == (SOLUTION, "fenced")


@pytest.mark.parametrize(
    "reply",
    [
        "~" * 200_000,
        "`" * 200_000,
        ("`" * 1000 + "\n") * 200,
        "x ```\n" * 100_000,
        "<code>" * 100_000,
        "```python\n" * 50_000,
    ],
    ids=["tildes", "backticks", "backtick-lines", "late-fences", "open-tags", "open-fences"],
)
def test_pathological_fences_stay_linear(reply: str) -> None:
    import time

    start = time.perf_counter()
    extract_code(reply, entry_point="f")
    assert time.perf_counter() - start < 5.0  # quadratic would take minutes


def test_inline_code_tags_in_prose_do_not_hide_unfenced_code() -> None:
    reply = (
        "You can use <code>sorted()</code> for this:\n\n"
        "def top3(xs):\n    return sorted(xs)[-3:]\n\nThat is all."
    )
    assert extract_code(reply, entry_point="top3") == (
        "def top3(xs):\n    return sorted(xs)[-3:]\n",
        "bare",
    )


def test_a_shell_block_beside_unfenced_code() -> None:
    reply = "Install nothing:\n```bash\npython3 --version\n```\ndef f():\n    return 1\n"
    assert extract_code(reply, entry_point="f") == ("def f():\n    return 1\n", "bare")
