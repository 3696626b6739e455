"""Replaying logged inputs through worker + evaluator with a given prompt."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from selfheal.db.models import ExecutionLog
from selfheal.services.common.clients import EvaluatorClient, WorkerClient
from selfheal.services.evaluator.schemas import EvaluateRequest, EvaluateResponse
from selfheal.services.worker.schemas import TaskRequest

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ReplayItem:
    key: str
    origin: str  # failing | passing | golden
    user_input: str
    refined_input: str
    tests: str | None
    entry_point: str | None

    @classmethod
    def from_log(cls, row: ExecutionLog, origin: str) -> ReplayItem:
        return cls(
            key=row.request_id,
            origin=origin,
            user_input=row.user_input,
            refined_input=row.refined_input or row.user_input,
            tests=row.tests,
            entry_point=row.entry_point,
        )


@dataclass(slots=True)
class ReplayOutcome:
    key: str
    origin: str
    user_input: str
    score: float
    passed: bool
    category: str | None
    failed_tests: list[str] = field(default_factory=list)
    output_excerpt: str = ""
    entry_point_defined: bool | None = None
    llm_calls: int = 0

    def as_example(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("key")
        data.pop("llm_calls")
        return data


def failed_tests_of(detail: dict[str, Any] | None) -> list[str]:
    execution = (detail or {}).get("execution") or {}
    out = []
    for test in execution.get("tests") or []:
        if test.get("status") != "passed":
            out.append(f"{test.get('name')}: {test.get('message')}"[:400])
    if execution.get("load_error"):
        out.append(str(execution["load_error"])[:400])
    return out[:5]


def outcome_from_evaluation(item: ReplayItem, output: str, ev: EvaluateResponse) -> ReplayOutcome:
    detail = ev.detail.model_dump()
    execution = detail.get("execution") or {}
    return ReplayOutcome(
        key=item.key,
        origin=item.origin,
        user_input=item.user_input,
        score=ev.score,
        passed=ev.passed,
        category=ev.failure_category,
        failed_tests=failed_tests_of(detail),
        output_excerpt=output[:600],
        entry_point_defined=execution.get("entry_point_defined"),
    )


class Replayer(Protocol):
    async def run(self, task_type: str, item: ReplayItem, *, prompt: str) -> ReplayOutcome: ...


class HttpReplayer:
    """Replays through the real worker and evaluator services."""

    def __init__(self, worker: WorkerClient, evaluator: EvaluatorClient) -> None:
        self.worker = worker
        self.evaluator = evaluator

    async def run(self, task_type: str, item: ReplayItem, *, prompt: str) -> ReplayOutcome:
        rid = f"replay-{uuid.uuid4()}"
        task = await self.worker.run_task(
            TaskRequest(
                request_id=rid,
                task_type=task_type,
                refined_input=item.refined_input,
                prompt_content=prompt,
            )
        )
        ev = await self.evaluator.evaluate(
            EvaluateRequest(
                request_id=rid,
                task_type=task_type,
                user_input=item.user_input,
                refined_input=item.refined_input,
                worker_output=task.output,
                tests=item.tests,
                entry_point=item.entry_point,
            )
        )
        outcome = outcome_from_evaluation(item, task.output, ev)
        outcome.llm_calls = 1 + (1 if ev.code else 0)
        return outcome

    async def aclose(self) -> None:
        await self.worker.aclose()
        await self.evaluator.aclose()


REPLAY_ERROR = "replay_error"


def failed_replay(item: ReplayItem, why: str) -> ReplayOutcome:
    """The outcome of an item whose replay did not finish: a failure of that item only."""
    return ReplayOutcome(
        key=item.key,
        origin=item.origin,
        user_input=item.user_input,
        score=0.0,
        passed=False,
        category=REPLAY_ERROR,
        failed_tests=[why[:400]],
    )


async def replay_all(
    replayer: Replayer,
    task_type: str,
    items: Sequence[ReplayItem],
    *,
    prompt: str,
    concurrency: int,
    timeout_s: float | None = None,
) -> list[ReplayOutcome]:
    """Every item replayed with ``prompt``. An item whose worker or evaluator call fails or
    runs past ``timeout_s`` counts as a failed item (category ``replay_error``); the others
    go on, so one slow call to a seconds-per-call model never ends the run."""
    gate = asyncio.Semaphore(concurrency)

    async def one(item: ReplayItem) -> ReplayOutcome:
        async with gate:
            try:
                return await asyncio.wait_for(
                    replayer.run(task_type, item, prompt=prompt), timeout=timeout_s
                )
            except TimeoutError:
                why = f"replay did not finish within {timeout_s:g} s"
            except Exception as exc:  # any failure of this item's calls is this item's failure
                why = f"{type(exc).__name__}: {exc}"
            log.warning("replay of %s failed: %s", item.key, why)
            return failed_replay(item, why)

    return list(await asyncio.gather(*(one(i) for i in items)))
