"""Candidates that generalise: what a proposed prompt may not be, checked before replay.

A prompt that copies a logged request ("Write a function to calculate the sum of two
numbers.") or names a task's function would score on the replayed inputs and fail every
other request, so it is rejected without spending replay calls, as are empty, unchanged
and overlong prompts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

SHINGLE_WORDS = 6  # this many consecutive words shared with a logged request = copied
_WORD = re.compile(r"[a-z0-9_]+")
_IDENTIFIER = re.compile(r"\b[A-Za-z_][A-Za-z0-9_]*\b")


def _shingles(text: str, size: int = SHINGLE_WORDS) -> set[tuple[str, ...]]:
    words = _WORD.findall(text.lower())
    return {tuple(words[i : i + size]) for i in range(len(words) - size + 1)}


def template_shingles(texts: list[str]) -> set[tuple[str, ...]]:
    """Word runs shared by at least half of several requests: the clients' boilerplate
    ("Complete the following Python function ..."), not anything task-specific."""
    if len(texts) < 2:
        return set()
    counts: dict[tuple[str, ...], int] = {}
    for text in set(texts):
        for shingle in _shingles(text):
            counts[shingle] = counts.get(shingle, 0) + 1
    distinct = len(set(texts))
    return {s for s, n in counts.items() if distinct >= 2 and n * 2 >= distinct}


def task_identifiers(entry_points: Iterable[str | None]) -> set[str]:
    """Function names of the replayed tasks that would be task-specific in a prompt (a
    name of one short common word, like ``add``, says nothing about the task)."""
    return {name for name in entry_points if name and ("_" in name or len(name) > 8)}


def rejection(
    prompt: str,
    *,
    incumbent: str,
    task_texts: Iterable[str],
    identifiers: Iterable[str],
    max_chars: int,
) -> str | None:
    """Why ``prompt`` may not be a candidate, or None when it may."""
    text = prompt.strip()
    if not text:
        return "empty prompt"
    if text == incumbent.strip():
        return "unchanged from the incumbent"
    if len(text) > max_chars:
        return f"too long: {len(text)} characters, the limit is {max_chars}"
    new = _shingles(text) - _shingles(incumbent) - template_shingles(texts := list(task_texts))
    for task_text in texts:
        if new & _shingles(task_text):
            return "copies text from a logged request"
    found = set(_IDENTIFIER.findall(text)) - set(_IDENTIFIER.findall(incumbent))
    named = sorted(found & set(identifiers))
    if named:
        return f"names a task-specific function: {', '.join(named)}"
    return None
