"""Keeping every analyst and optimizer request inside the model's context window.

Logged material (user inputs, model outputs, test messages) is clipped field by field,
then whole examples are dropped from the end until system prompt + message + reply fit.
The estimate is deliberately pessimistic (3 characters a token: code and JSON tokenize
worse than prose), because a request that does not fit fails outright on a small server.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from selfheal.core.errors import SelfhealError

CHARS_PER_TOKEN = 3
# How much of each logged field an example keeps.
FIELD_CHARS = {"user_input": 600, "output_excerpt": 400}
FAILED_TEST_CHARS = 200
FAILED_TESTS_KEPT = 3
MARGIN_TOKENS = 64  # chat template overhead and estimate error


class RequestTooLarge(SelfhealError):
    """Even with no examples the request does not fit the context."""


def estimate_tokens(text: str) -> int:
    return len(text) // CHARS_PER_TOKEN + 1


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, marked when cut."""
    return text if len(text) <= limit else text[: max(0, limit - 14)] + " …[clipped]"


def clip_example(example: dict[str, Any]) -> dict[str, Any]:
    """An example with its logged text fields clipped to their budgets."""
    out = dict(example)
    for key, limit in FIELD_CHARS.items():
        if isinstance(out.get(key), str):
            out[key] = clip(out[key], limit)
    tests = out.get("failed_tests")
    if isinstance(tests, list):
        out["failed_tests"] = [clip(str(t), FAILED_TEST_CHARS) for t in tests[:FAILED_TESTS_KEPT]]
    return out


def ensure_fits(message: str, *, system: str, context_tokens: int, reply_tokens: int) -> None:
    """Raise ``RequestTooLarge`` unless ``message`` fits beside the system prompt and reply."""
    fit(
        lambda _: message,
        [],
        system=system,
        context_tokens=context_tokens,
        reply_tokens=reply_tokens,
    )


def fit(
    build: Callable[[list[dict[str, Any]]], str],
    examples: Sequence[dict[str, Any]],
    *,
    system: str,
    context_tokens: int,
    reply_tokens: int,
) -> tuple[str, list[dict[str, Any]]]:
    """The largest message ``build(examples[:n])`` that fits, and the examples it kept."""
    available = context_tokens - reply_tokens - MARGIN_TOKENS - estimate_tokens(system)
    kept = [clip_example(e) for e in examples]
    while True:
        message = build(kept)
        if estimate_tokens(message) <= available:
            return message, kept
        if not kept:
            raise RequestTooLarge(
                f"the request needs ~{estimate_tokens(message)} tokens with no examples; "
                f"{available} are available in a {context_tokens}-token context"
            )
        kept = kept[:-1]
