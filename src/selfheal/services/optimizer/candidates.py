"""Candidate prompts by reflection on an analysis (K variants).

The optimizer role answers with an edit of the current prompt (lines to remove, rules to
add: ``PromptEdit``), which a small model follows far more reliably than a rewrite.
Later variants are shown the earlier candidates and asked for a different edit; nothing
else distinguishes them, so no simulator-only field reaches a real model.
"""

from __future__ import annotations

import logging
from typing import Any

from selfheal.core.config import OptimizerSettings
from selfheal.core.errors import LLMError
from selfheal.llm.base import LLMRequest, Role
from selfheal.llm.client import LLMClient
from selfheal.llm.prompts import OPTIMIZER_SYSTEM, data_message
from selfheal.llm.schemas import FailureAnalysis, PromptEdit, PromptPatch
from selfheal.services.optimizer.budget import clip, ensure_fits

log = logging.getLogger(__name__)
EARLIER_CHARS = 600  # of each earlier candidate shown to later variants


def numbered_lines(prompt: str) -> dict[str, str]:
    """The prompt's non-empty lines by number (``PromptEdit.apply`` counts the same way)."""
    lines = [line for line in prompt.splitlines() if line.strip()]
    return {str(number): line for number, line in enumerate(lines, start=1)}


def optimizer_message(*, current_prompt: str, analysis: FailureAnalysis, earlier: list[str]) -> str:
    payload: dict[str, Any] = {
        "current_prompt_lines": numbered_lines(current_prompt),
        "analysis": analysis.model_dump(),
    }
    if earlier:
        payload["earlier_candidates"] = [clip(text, EARLIER_CHARS) for text in earlier]
    intro = "Edit the current prompt to fix the failures in the analysis."
    if earlier:
        intro += " Make an edit different from the earlier candidates."
    return data_message(intro, payload)


async def propose(
    client: LLMClient,
    *,
    current_prompt: str,
    analysis: FailureAnalysis,
    k: int,
    settings: OptimizerSettings,
) -> tuple[list[PromptPatch], int]:
    """Up to ``k`` distinct candidate prompts and the number of LLM calls spent. A variant
    whose reply stays malformed after the repair is skipped, not fatal."""
    patches: list[PromptPatch] = []
    calls = 0
    for variant in range(k):
        earlier = [p.prompt for p in patches]
        message = optimizer_message(
            current_prompt=current_prompt, analysis=analysis, earlier=earlier
        )
        ensure_fits(
            message,
            system=OPTIMIZER_SYSTEM,
            context_tokens=settings.context_tokens,
            reply_tokens=settings.llm_max_tokens,
        )
        before = client.usage.calls
        try:
            edit, _ = await client.generate_json(
                LLMRequest(
                    role=Role.OPTIMIZER,
                    system=OPTIMIZER_SYSTEM,
                    prompt=message,
                    temperature=0.0 if variant == 0 else 0.7,
                    max_tokens=settings.llm_max_tokens,
                ),
                PromptEdit,
            )
        except LLMError as exc:
            calls += client.usage.calls - before
            if k == 1:
                raise
            log.warning("candidate %d of %d skipped: %s", variant + 1, k, exc)
            continue
        calls += client.usage.calls - before
        content = edit.apply(current_prompt).strip()
        if (
            content
            and content != current_prompt.strip()
            and all(p.prompt.strip() != content for p in patches)
        ):
            patches.append(PromptPatch(prompt=content, rationale=edit.rationale or "edit"))
    return patches, calls
