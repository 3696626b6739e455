"""How the offline model reads a system prompt: one documented rule per behaviour.

Each rule is a set of regular expressions; a rule is on when any of them matches the
system prompt (case-insensitive). docs/offline-model.md lists them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

RULES: dict[str, tuple[str, ...]] = {
    # The seed's sabotage prompt and its relatives: ignore the request, answer something else.
    "sabotage": (
        r"\b(just|only|always)\s+(say|reply|respond|answer|write|print)\b[^.\n]*hello,?\s+world",
        r"ignore\s+(the|any|all|every)\s+(user'?s?\s+)?(request|question|task|instruction)s?",
        r"do\s+not\s+(write|produce|return|answer\s+with)\s+(any\s+)?code",
    ),
    "answer_with_code": (
        r"answer\s+[^.\n]*with\s+(a\s+)?((complete|working)\s+)+(python\s+)?(code|implementation)",
        r"always\s+(answer|reply|respond)\s+[^.\n]*\bcode\b",
    ),
    "fenced_code": (r"fenced", r"```", r"code\s+block"),
    "exact_name": (
        r"exact(ly)?\s+(the\s+)?(function\s+)?name",
        r"function\s+name\s+(the\s+user\s+)?(asks?\s+for|given|requested|specified)",
        r"name\s+the\s+function\s+exactly",
    ),
    "edge_cases": (r"edge[\s-]cases?", r"corner[\s-]cases?", r"boundar(y|ies)"),
    "validate_input": (
        r"validat(e|ion)\s+[^.\n]*input",
        r"invalid\s+input",
        r"raise\s+(a\s+)?valueerror",
    ),
    "docstring": (r"docstrings?",),
    "type_hints": (r"type\s+hints?", r"type\s+annotations?"),
}
_COMPILED = {
    name: tuple(re.compile(p, re.IGNORECASE) for p in pats) for name, pats in RULES.items()
}


@dataclass(frozen=True, slots=True)
class Instructions:
    sabotage: bool = False
    answer_with_code: bool = False
    fenced_code: bool = False
    exact_name: bool = False
    edge_cases: bool = False
    validate_input: bool = False
    docstring: bool = False
    type_hints: bool = False


def read_instructions(system_prompt: str) -> Instructions:
    """Which behaviours a system prompt asks for. An explicit answer-with-code rule beats sabotage."""
    found = {name: any(p.search(system_prompt) for p in pats) for name, pats in _COMPILED.items()}
    if found["answer_with_code"]:
        found["sabotage"] = False
    return Instructions(**found)
