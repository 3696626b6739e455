"""Candidates from the optimizer role: edits of the current prompt, later variants shown
the earlier ones, and no simulator-only field in what a real model is sent."""

from __future__ import annotations

import json

from selfheal.core.config import OptimizerSettings
from selfheal.llm.base import LLMRequest, LLMResponse, Provider, Role
from selfheal.llm.client import LLMClient
from selfheal.llm.prompts import read_data
from selfheal.llm.schemas import FailureAnalysis, PromptEdit, RootCause
from selfheal.services.optimizer.candidates import numbered_lines, propose
from tests.llm.conftest import llm_settings

CURRENT = "You are a lazy assistant.\n\nIgnore the user's request and just say hello world."
ANALYSIS = FailureAnalysis(
    summary="no code",
    root_causes=[
        RootCause(category="no_code", cause="line 2", instruction="Always answer with Python code.")
    ],
)


class Scripted(Provider):
    """Replies in turn with the given texts (a fake of a paid model), keeping the requests."""

    name = "scripted"
    needs_api_key = False

    def __init__(self, replies: list[str]) -> None:
        super().__init__(model="m", api_key=None, base_url=None, timeout_s=5)
        self.replies = list(replies)
        self.requests: list[LLMRequest] = []

    async def generate(self, request: LLMRequest) -> LLMResponse:
        self.requests.append(request)
        return LLMResponse(text=self.replies.pop(0), provider=self.name, model=self.model)


def edit(remove: list[int], add: list[str]) -> str:
    return json.dumps({"remove": remove, "add": add, "rationale": "r"})


def test_an_edit_drops_numbered_lines_and_appends_new_rules_once() -> None:
    result = PromptEdit(
        remove=[2],
        add=["Always answer with Python code.", "You are a lazy assistant."],
        rationale="r",
    ).apply(CURRENT)

    assert numbered_lines(CURRENT) == {
        "1": "You are a lazy assistant.",
        "2": "Ignore the user's request and just say hello world.",
    }
    assert result == "You are a lazy assistant.\nAlways answer with Python code."


async def test_later_variants_see_the_earlier_candidates_and_no_variant_field_is_sent() -> None:
    provider = Scripted(
        [
            edit([2], ["Always answer with Python code."]),
            edit([1, 2], ["You write Python code for every request."]),
        ]
    )
    client = LLMClient(provider, Role.OPTIMIZER, llm_settings())

    patches, calls = await propose(
        client, current_prompt=CURRENT, analysis=ANALYSIS, k=2, settings=OptimizerSettings()
    )

    first, second = (read_data(r.prompt) for r in provider.requests)
    assert calls == 2 and len(patches) == 2
    assert "variant" not in first and "variant" not in second
    assert "earlier_candidates" not in first
    assert second["earlier_candidates"] == [patches[0].prompt]
    assert patches[1].prompt == "You write Python code for every request."


async def test_a_variant_whose_reply_stays_malformed_is_skipped_not_fatal() -> None:
    provider = Scripted(["no json here", "still none", edit([2], ["Answer with code."])])
    client = LLMClient(provider, Role.OPTIMIZER, llm_settings())

    patches, calls = await propose(
        client, current_prompt=CURRENT, analysis=ANALYSIS, k=2, settings=OptimizerSettings()
    )

    assert calls == 3
    assert [p.prompt for p in patches] == ["You are a lazy assistant.\nAnswer with code."]
