"""The request flow: refine -> worker -> evaluator -> log. Every request leaves a log row."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from selfheal.core import metrics
from selfheal.core.errors import DownstreamUnavailable, LLMError, NotFoundError
from selfheal.core.logging import request_id_var
from selfheal.db import execution_logs
from selfheal.db.models import LogStatus, utcnow
from selfheal.llm.base import LLMRequest, Role
from selfheal.llm.client import LLMClient
from selfheal.llm.prompts import REFINER_SYSTEM, refine_message
from selfheal.services.common.clients import EvaluatorClient, WorkerClient
from selfheal.services.common.runtime import Runtime
from selfheal.services.evaluator.schemas import EvaluateRequest, EvaluateResponse
from selfheal.services.manager.log_spool import LogSpool
from selfheal.services.manager.schemas import TASK_TYPE_PATTERN, CodeRequest, CodeResponse, Latency
from selfheal.services.manager.state import ManagerState
from selfheal.services.worker.schemas import TaskRequest, TaskResponse

log = logging.getLogger(__name__)


class UnknownTaskType(ValueError):
    """No prompt exists for the requested task type (-> 422)."""


@dataclass
class _Trace:
    """What one request gathered so far, written to the log row whatever happens."""

    request_id: str
    body: CodeRequest
    started: float = field(default_factory=time.perf_counter)
    refined: str | None = None
    task: TaskResponse | None = None
    evaluation: EvaluateResponse | None = None
    refine_ms: float = 0.0
    worker_ms: float = 0.0
    evaluator_ms: float = 0.0

    def row(self, *, status: LogStatus, error: str | None = None) -> dict[str, Any]:
        ev, task = self.evaluation, self.task
        return {
            "request_id": self.request_id,
            "task_type": self.body.task_type,
            "status": status,
            "user_input": self.body.user_input,
            "tests": self.body.tests,
            "entry_point": self.body.entry_point,
            "refined_input": self.refined,
            "worker_output": task.output if task else None,
            "code": ev.code if ev else None,
            "evaluation_score": ev.score if ev else None,
            "evaluation_passed": bool(ev and ev.passed),
            "failure_category": ev.failure_category if ev else None,
            "evaluation_detail": ev.detail.model_dump() if ev else None,
            "prompt_version": task.prompt_version if task else None,
            "prompt_status": task.prompt_status if task else None,
            "provider": task.llm.provider if task else None,
            "model": task.llm.model if task else None,
            "input_tokens": task.llm.input_tokens if task else None,
            "output_tokens": task.llm.output_tokens if task else None,
            "latency_refine_ms": round(self.refine_ms, 3),
            "latency_worker_ms": round(self.worker_ms, 3),
            "latency_evaluator_ms": round(self.evaluator_ms, 3),
            "latency_total_ms": round((time.perf_counter() - self.started) * 1000, 3),
            "error": error,
        }


def should_refine(policy: str, body: CodeRequest) -> bool:
    """``SELFHEAL_REFINE``: always, off, or auto (not when the request brings its tests)."""
    return policy == "always" or (policy == "auto" and not body.tests)


async def refine(client: LLMClient, body: CodeRequest) -> str:
    """The request as a precise specification; the raw text if the refiner is unavailable."""
    message = refine_message(body.user_input, body.entry_point)
    try:
        response = await client.generate(
            LLMRequest(role=Role.REFINER, system=REFINER_SYSTEM, prompt=message)
        )
    except LLMError as exc:
        log.warning("refiner unavailable, using the request as written: %s", exc)
        return message
    return response.text.strip() or message


async def handle_request(
    body: CodeRequest, *, runtime: Runtime, worker: WorkerClient, evaluator: EvaluatorClient
) -> CodeResponse:
    request_id = str(uuid.uuid4())
    request_id_var.set(request_id)
    trace = _Trace(request_id=request_id, body=body)
    status, error = LogStatus.COMPLETED, None
    try:
        if should_refine(runtime.settings.service.refine, body):
            t = time.perf_counter()
            trace.refined = await refine(runtime.client(Role.REFINER), body)
            trace.refine_ms = (time.perf_counter() - t) * 1000
        else:  # latency_refine_ms stays 0: the row says no refine call was made
            trace.refined = refine_message(body.user_input, body.entry_point)
            metrics.LLM_CALLS_SAVED.labels("refiner", "tests_given").inc()

        t = time.perf_counter()
        try:
            trace.task = await worker.run_task(
                TaskRequest(
                    request_id=request_id, task_type=body.task_type, refined_input=trace.refined
                )
            )
        except NotFoundError as exc:
            status, error = LogStatus.INVALID_TASK_TYPE, str(exc)
            raise UnknownTaskType(str(exc)) from exc
        finally:
            trace.worker_ms = (time.perf_counter() - t) * 1000

        t = time.perf_counter()
        try:
            trace.evaluation = await evaluator.evaluate(
                EvaluateRequest(
                    request_id=request_id,
                    task_type=body.task_type,
                    user_input=body.user_input,
                    refined_input=trace.refined,
                    worker_output=trace.task.output,
                    tests=body.tests,
                    entry_point=body.entry_point,
                )
            )
        finally:
            trace.evaluator_ms = (time.perf_counter() - t) * 1000
    except DownstreamUnavailable as exc:
        status, error = LogStatus.unavailable(exc.target), str(exc)
        raise
    except UnknownTaskType:
        raise
    except asyncio.CancelledError:  # shutdown mid-request: its row says so, not "completed"
        status, error = LogStatus.CANCELLED, "the request was cancelled before it finished"
        raise
    except Exception as exc:
        status, error = LogStatus.ERROR, f"{type(exc).__name__}: {exc}"
        raise
    finally:
        await _save(runtime, trace.row(status=status, error=error))

    assert trace.task is not None and trace.evaluation is not None
    ev = trace.evaluation
    return CodeResponse(
        request_id=request_id,
        task_type=body.task_type,
        refined_input=trace.refined or "",
        worker_output=trace.task.output,
        code=ev.code,
        evaluation_score=ev.score,
        evaluation_passed=ev.passed,
        failure_category=ev.failure_category,
        prompt_version=trace.task.prompt_version,
        latency_ms=Latency(
            refine=round(trace.refine_ms, 3),
            worker=round(trace.worker_ms, 3),
            evaluator=round(trace.evaluator_ms, 3),
            total=round((time.perf_counter() - trace.started) * 1000, 3),
        ),
        evaluation_detail=ev.detail.model_dump(),
    )


async def store_row(runtime: Runtime, row: dict[str, Any]) -> None:
    """One log row in its own transaction."""
    async with runtime.sessionmaker() as session:
        await execution_logs.insert(session, **row)
        await session.commit()


async def _save(runtime: Runtime, row: dict[str, Any]) -> None:
    """Write the row; while the database is away keep it in the spool (written when the
    database is back). Only when neither can take it is the request a 503."""
    row.setdefault("created_at", utcnow())
    try:
        await store_row(runtime, row)
    except (SQLAlchemyError, OSError) as exc:  # OSError: asyncpg cannot connect
        log.warning("the database could not take the log row; spooling it: %s", exc)
        try:
            spool(runtime).append(row)
        except OSError as disk:
            log.error("could not spool the log row either: %s", disk)
            raise DownstreamUnavailable(
                "database", "the execution log could not be written"
            ) from exc


def spool(runtime: Runtime) -> LogSpool:
    """The manager's log spool (made at start-up)."""
    return runtime.state_as(ManagerState).log_spool


async def log_rejected(runtime: Runtime, *, body: Any, message: str) -> str:
    """Log a request refused as invalid (422) so that it, too, leaves a row."""
    request_id = str(uuid.uuid4())
    data = body if isinstance(body, dict) else {}
    task_type = data.get("task_type")
    if not isinstance(task_type, str) or not re.fullmatch(TASK_TYPE_PATTERN, task_type):
        task_type = "unknown" if "task_type" in data else "code_generation"
    user_input = data.get("user_input")
    if not isinstance(user_input, str):
        user_input = (
            body.decode("utf-8", "backslashreplace")
            if isinstance(body, bytes)
            else (json.dumps(body, default=str))
        )
    row = {
        "request_id": request_id,
        "task_type": task_type,
        "status": LogStatus.REJECTED,
        "user_input": _storable(user_input[:2000]),
        "evaluation_passed": False,
        "error": _storable(message[:2000]),
    }
    try:
        await _save(runtime, row)
    except DownstreamUnavailable as exc:  # the client gets its 422 regardless
        log.error("could not log a rejected request: %s", exc)
    return request_id


def _storable(text: str) -> str:
    """Text a database can hold: a lone surrogate (refused, so kept only for the record) is
    written as its escape, ``\\ud800``."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
