"""The offline model as failure analyst and prompt optimizer.

It writes instructions that address the failure categories and the evidence in the
examples it is shown, and only those: healing depends on what the evaluator found.
"""

from __future__ import annotations

import re
from typing import Any

from selfheal.llm.providers.offline.instructions import _COMPILED

ANSWER_WITH_CODE = (
    "Always answer the user's programming request with a complete working Python "
    "implementation; never reply with greetings or unrelated text."
)
FENCED = "Reply with the code only, in a single fenced ```python code block, with no text before or after it."
EXACT_NAME = "Use exactly the function name the user asks for."
EDGE_CASES = (
    "Handle edge cases correctly: empty inputs, zero, negative numbers, duplicates and boundaries."
)
EFFICIENT = "Use efficient algorithms (no exponential recursion, no unbounded loops) so the code finishes quickly."
SAFE = "Never use eval, exec, subprocess, os.system, file access or network access."
STYLE = "Include a docstring and type hints on every function."
ON_TOPIC = "Solve exactly the programming task the user asks for, nothing else."

_NAME_ERROR = re.compile(r"NameError|is not defined|entry point|not callable", re.IGNORECASE)
_PROSE = re.compile(r"^(sure|here|this|the following|below)\b", re.IGNORECASE | re.MULTILINE)


def _cause(category: str, cause: str, instruction: str) -> dict[str, str]:
    return {"category": category, "cause": cause, "instruction": instruction}


def analyse(data: dict[str, Any]) -> dict[str, Any]:
    counts: dict[str, int] = {str(k): int(v) for k, v in (data.get("failure_counts") or {}).items()}
    examples: list[dict[str, Any]] = list(data.get("examples") or [])
    causes: list[dict[str, str]] = []

    def seen(category: str) -> list[dict[str, Any]]:
        return [e for e in examples if e.get("category") == category]

    if counts.get("no_code"):
        causes.append(
            _cause(
                "no_code",
                "answers contain no code: the prompt lets the model ignore the request",
                ANSWER_WITH_CODE,
            )
        )
    if counts.get("syntax_error"):
        prose = any(_PROSE.search(str(e.get("output_excerpt", ""))) for e in seen("syntax_error"))
        why = "code is mixed with explanatory prose" if prose else "the code does not parse"
        causes.append(_cause("syntax_error", why, FENCED))
    chatty = [
        e
        for e in examples
        if e.get("category") in ("test_failure", "runtime_error")
        and _PROSE.search(str(e.get("output_excerpt", "")))
    ]
    if chatty and not counts.get("no_code"):
        # code wrapped in small talk: the prompt asks for conversation, not for code
        causes.append(_cause("format", "answers wrap the code in conversational prose", FENCED))
    messages = [
        str(m)
        for e in examples
        if e.get("category") in ("test_failure", "runtime_error")
        for m in (e.get("failed_tests") or [])
    ]
    if any(_NAME_ERROR.search(m) for m in messages) or any(
        e.get("entry_point_defined") is False for e in examples
    ):
        causes.append(
            _cause(
                "test_failure", "the function is not defined under the requested name", EXACT_NAME
            )
        )
    if any(not _NAME_ERROR.search(m) for m in messages):
        causes.append(_cause("test_failure", "wrong results on edge-case inputs", EDGE_CASES))
    if counts.get("timeout"):
        causes.append(_cause("timeout", "the code runs too long", EFFICIENT))
    if counts.get("unsafe_code"):
        causes.append(_cause("unsafe_code", "the code uses dangerous constructs", SAFE))
    if counts.get("low_quality"):
        causes.append(_cause("low_quality", "the code lacks documentation and typing", STYLE))
    if counts.get("off_topic"):
        causes.append(_cause("off_topic", "answers do not address the request", ON_TOPIC))
    summary = ", ".join(f"{n} {c}" for c, n in sorted(counts.items(), key=lambda kv: -kv[1]))
    return {"summary": f"failures: {summary or 'none'}", "root_causes": causes}


def _is_sabotage(line: str) -> bool:
    return any(p.search(line) for p in _COMPILED["sabotage"])


def patch_prompt(data: dict[str, Any]) -> dict[str, Any]:
    """An edit of the current prompt: drop the lines that cause no-code answers, add the
    analysis' instructions.

    A batch's later candidates are shown the earlier ones (``earlier_candidates``); the
    k-th keeps the first ``len(instructions) - k`` instructions, so the candidates differ
    and replay validation has a real choice to make.
    """
    lines: dict[str, str] = {
        str(k): str(v) for k, v in (data.get("current_prompt_lines") or {}).items()
    }
    causes = list((data.get("analysis") or {}).get("root_causes") or [])
    variant = len(data.get("earlier_candidates") or [])
    instructions: list[str] = []
    for cause in causes:
        text = str(cause.get("instruction", "")).strip()
        if text and text not in instructions:
            instructions.append(text)
    keep = max(1, len(instructions) - variant) if instructions else 0
    instructions = instructions[:keep]
    drop_sabotage = any(c.get("category") in ("no_code", "format") for c in causes)
    remove = [int(n) for n, line in lines.items() if drop_sabotage and _is_sabotage(line)]
    add: list[str] = []
    if len(remove) == len(lines):
        add.append("You are an expert Python engineer.")
    kept = {line for n, line in lines.items() if int(n) not in remove}
    add += [text for text in instructions if text not in kept]
    rationale = "; ".join(f"{c.get('category')}: {c.get('cause')}" for c in causes) or "no change"
    return {"remove": sorted(remove), "add": add, "rationale": rationale}
