"""Replay tolerance: one slow or failed call counts against its item, never ends the run."""

from __future__ import annotations

import asyncio

from selfheal.core.errors import DownstreamUnavailable
from selfheal.services.optimizer.replay import REPLAY_ERROR, ReplayItem, ReplayOutcome, replay_all


def item(key: str) -> ReplayItem:
    return ReplayItem(
        key=key, origin="failing", user_input=key, refined_input=key, tests=None, entry_point=None
    )


class FlakyReplayer:
    """``slow`` never answers in time, ``down`` raises like an unavailable evaluator."""

    def __init__(self) -> None:
        self.max_in_flight = 0
        self._in_flight = 0

    async def run(self, task_type: str, item: ReplayItem, *, prompt: str) -> ReplayOutcome:
        self._in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            if item.key == "slow":
                await asyncio.sleep(30)
            if item.key == "down":
                raise DownstreamUnavailable("evaluator", "TimeoutError")
            await asyncio.sleep(0.01)
            return ReplayOutcome(
                key=item.key,
                origin=item.origin,
                user_input=item.user_input,
                score=0.9,
                passed=True,
                category=None,
            )
        finally:
            self._in_flight -= 1


async def test_a_slow_and_a_failed_item_fail_alone_and_the_others_are_scored() -> None:
    replayer = FlakyReplayer()

    outcomes = await replay_all(
        replayer,
        "code_generation",
        [item("a"), item("slow"), item("down"), item("b")],
        prompt="p",
        concurrency=1,
        timeout_s=0.3,
    )

    by_key = {o.key: o for o in outcomes}
    assert [o.key for o in outcomes] == ["a", "slow", "down", "b"]
    assert by_key["a"].passed and by_key["b"].passed
    assert by_key["slow"].category == REPLAY_ERROR and not by_key["slow"].passed
    assert "within 0.3 s" in by_key["slow"].failed_tests[0]
    assert by_key["down"].category == REPLAY_ERROR and by_key["down"].score == 0.0
    assert "DownstreamUnavailable" in by_key["down"].failed_tests[0]
    assert replayer.max_in_flight == 1  # one at a time for a single-slot model server
