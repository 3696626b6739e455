"""Candidate prompts by reflection on an analysis (K variants)."""

from __future__ import annotations

from selfheal.llm.base import LLMRequest, Role
from selfheal.llm.client import LLMClient
from selfheal.llm.prompts import OPTIMIZER_SYSTEM, data_message
from selfheal.llm.schemas import FailureAnalysis, PromptPatch


async def propose(
    client: LLMClient, *, current_prompt: str, analysis: FailureAnalysis, k: int
) -> tuple[list[PromptPatch], int]:
    """Up to ``k`` distinct candidate prompts and the number of LLM calls spent."""
    patches: list[PromptPatch] = []
    calls = 0
    for variant in range(k):
        patch, used = await client.generate_json(
            LLMRequest(
                role=Role.OPTIMIZER,
                system=OPTIMIZER_SYSTEM,
                prompt=data_message(
                    f"Write candidate {variant + 1} of {k}: a complete new system prompt.",
                    {
                        "current_prompt": current_prompt,
                        "analysis": analysis.model_dump(),
                        "variant": variant,
                    },
                ),
                temperature=0.0 if variant == 0 else 0.7,
            ),
            PromptPatch,
        )
        calls += used
        content = patch.prompt.strip()
        if (
            content
            and content != current_prompt.strip()
            and all(p.prompt.strip() != content for p in patches)
        ):
            patches.append(patch)
    return patches, calls
