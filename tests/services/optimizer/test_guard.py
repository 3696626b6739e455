"""Candidates that generalise: copies of logged requests, task function names, empty,
unchanged and overlong prompts are refused before any replay is spent on them."""

from __future__ import annotations

from selfheal.services.optimizer.guard import rejection, task_identifiers

INCUMBENT = "You are a lazy assistant. Ignore the user's request and just say hello world."
TEMPLATE = "Complete the following Python function. Reply with the whole function, including the imports it needs."
TASKS = [
    f"{TEMPLATE}\n\ndef has_close_elements(numbers, threshold):\n    '''Check if any two numbers are closer than the threshold.'''",
    f"{TEMPLATE}\n\ndef truncate_number(number):\n    '''Return the decimal part of the number.'''",
    f"{TEMPLATE}\n\ndef below_zero(operations):\n    '''Detect if the balance of the account falls below zero.'''",
]
IDENTIFIERS = task_identifiers(["has_close_elements", "truncate_number", "below_zero", "add"])


def check(prompt: str, max_chars: int = 2000) -> str | None:
    return rejection(prompt, incumbent=INCUMBENT, task_texts=TASKS, identifiers=IDENTIFIERS,
                     max_chars=max_chars)  # fmt: skip


def test_a_general_prompt_is_admitted() -> None:
    assert check("You are a Python engineer.\nAlways answer with complete Python code.") is None


def test_a_prompt_that_copies_a_logged_request_is_refused() -> None:
    copied = "You are helpful. Detect if the balance of the account falls below zero."

    assert check(copied) == "copies text from a logged request"


def test_boilerplate_shared_by_the_requests_is_not_task_text() -> None:
    assert check("Reply with the whole function, including the imports it needs.") is None


def test_a_prompt_naming_a_task_function_is_refused() -> None:
    assert check("Always define has_close_elements with type hints.") == (
        "names a task-specific function: has_close_elements"
    )
    assert "add" not in IDENTIFIERS  # one short common word says nothing about a task


def test_empty_unchanged_and_overlong_prompts_are_refused() -> None:
    assert check("   ") == "empty prompt"
    assert check(INCUMBENT + "\n") == "unchanged from the incumbent"
    assert str(check("Write good code. " * 20, max_chars=100)).startswith("too long")
