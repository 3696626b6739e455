"""One evaluation: extract -> static checks -> (generate tests) -> sandbox run -> judge -> score."""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any

from selfheal.core import metrics
from selfheal.core.config import EvaluatorSettings
from selfheal.core.errors import DownstreamUnavailable, LLMError, SandboxError
from selfheal.llm.base import LLMRequest, Role
from selfheal.llm.client import LLMClient
from selfheal.llm.prompts import JUDGE_SYSTEM, TEST_WRITER_SYSTEM, data_message
from selfheal.llm.schemas import GeneratedTests, JudgeVerdict
from selfheal.sandbox.base import Isolation, Sandbox
from selfheal.sandbox.runner import TRUSTED, ExecutionVerdict, TestResult, run_tests
from selfheal.sandbox.testplan import TestPlan, TestsInvalid, cached_plan
from selfheal.services.evaluator.checks import StaticReport, analyse_code, extract_code
from selfheal.services.evaluator.schemas import EvaluateRequest, EvaluateResponse, EvaluationDetail
from selfheal.services.evaluator.scoring import combine

log = logging.getLogger(__name__)


async def generate_tests(
    client: LLMClient, *, request: str, entry_point: str | None
) -> tuple[str | None, str | None]:
    """Ask the test-writer role for tests; (tests, entry_point) or (None, None)."""
    try:
        generated, _ = await client.generate_json(
            LLMRequest(
                role=Role.TEST_WRITER,
                system=TEST_WRITER_SYSTEM,
                prompt=data_message(
                    "Write tests for this request.",
                    {"request": request, "entry_point": entry_point},
                ),
            ),
            GeneratedTests,
        )
    except LLMError as exc:
        log.warning("test writer unavailable: %s", exc)
        return None, None
    tests = generated.tests.strip()
    if not tests:
        return None, None
    return tests, entry_point or generated.entry_point


# Four scores and one sentence fit in well under this (the reply cannot run on).
JUDGE_MAX_TOKENS = 200


async def judge_code(
    client: LLMClient, *, request: str, code: str, evidence: dict[str, Any]
) -> tuple[JudgeVerdict | None, str | None, int]:
    """The judge's validated verdict, or (None, reason) when it cannot give one."""
    try:
        verdict, calls = await client.generate_json(
            LLMRequest(
                role=Role.JUDGE,
                system=JUDGE_SYSTEM,
                prompt=data_message(
                    "Evaluate the candidate code.",
                    {"request": request, "code": code, "evidence": evidence},
                ),
                max_tokens=JUDGE_MAX_TOKENS,
            ),
            JudgeVerdict,
        )
        return verdict, None, calls
    except LLMError as exc:
        log.warning("judge unavailable: %s", exc)
        return None, f"{type(exc).__name__}: {exc}", 0


def _evidence(
    *,
    entry_point: str | None,
    static: dict[str, Any],
    execution: ExecutionVerdict | None,
    tests_origin: str | None,
) -> dict[str, Any]:
    failures = []
    if execution is not None:
        failures = [
            {"test": t.name, "status": t.status, "message": t.message}
            for t in execution.tests
            if t.status != "passed"
        ][:10]
    return {
        "entry_point": entry_point,
        "static": static,
        "execution": None
        if execution is None
        else {
            "status": execution.status,
            "load_error": execution.load_error,
            "entry_point_defined": execution.entry_point_defined,
        },
        "tests": None
        if execution is None
        else {
            "origin": tests_origin,
            "total": execution.total,
            "passed": execution.passed,
            "trusted_passed": execution.trusted_passed,
            "failures": failures,
        },
    }


OFF_LOOP_CHARS = 64 * 1024


def _static(
    body: EvaluateRequest, settings: EvaluatorSettings
) -> tuple[str | None, str | None, StaticReport | None]:
    """The code in the reply, how it was found, and its static checks."""
    code, code_source = extract_code(body.worker_output, entry_point=body.entry_point)
    if not code:
        return None, code_source, None
    static = analyse_code(
        code,
        dangerous_imports=settings.dangerous_imports,
        dangerous_calls=settings.dangerous_calls,
    )
    return code, code_source, static


def _sandbox_failed(sandbox: Sandbox, plan: TestPlan, exc: Exception) -> ExecutionVerdict:
    """A verdict for a job the sandbox broke on in a way nobody planned for: the code gets a
    runtime failure with the reason, the client a 200 (never a 5xx)."""
    why = f"the sandbox could not run the job ({type(exc).__name__})"
    return ExecutionVerdict(
        status="crashed",
        backend=sandbox.name,
        duration_ms=0.0,
        loaded=False,
        load_error=None,
        entry_point_defined=None,
        tests=[
            TestResult(u.label, "error", why, u.line, TRUSTED)
            for u in plan.units
            if u.kind != "setup"
        ],
        report_problems=[why],
    )


async def _execute(
    sandbox: Sandbox, *, code: str, plan: TestPlan, entry_point: str | None
) -> ExecutionVerdict:
    try:
        return await run_tests(sandbox, code=code, plan=plan, entry_point=entry_point)
    except SandboxError as exc:
        log.error("sandbox could not run the job: %s", exc)
        raise DownstreamUnavailable("sandbox", str(exc)) from exc
    except Exception as exc:  # whatever a job provokes is a verdict, not a 500
        log.exception("sandbox failed on a job: %s", exc)
        return _sandbox_failed(sandbox, plan, exc)


async def evaluate(
    body: EvaluateRequest,
    *,
    settings: EvaluatorSettings,
    sandbox: Sandbox,
    judge: LLMClient,
    test_writer: LLMClient,
) -> EvaluateResponse:
    if sandbox.refusal:
        # Below the minimum isolation nothing is evaluated: a verdict without running the
        # code would feed the optimizer failures that say nothing about the prompt.
        raise DownstreamUnavailable("sandbox", sandbox.refusal)
    settings = settings.for_task(body.task_type)
    request_text = body.refined_input or body.user_input
    if len(body.worker_output) > OFF_LOOP_CHARS:
        # Parsing a reply of up to a megabyte takes seconds: not on the event loop.
        code, code_source, static = await asyncio.to_thread(_static, body, settings)
    else:
        code, code_source, static = _static(body, settings)
    # With real isolation, dangerous constructs are signals (they cost the rule part's
    # "safe" share); under weak isolation an operator opted into, they are gates and the
    # code is not run at all.
    isolated = sandbox.effective_isolation >= Isolation.BWRAP
    blocked = bool(static and static.dangerous) and not isolated
    tests, tests_origin, entry_point = body.tests, None, body.entry_point
    if tests:
        tests_origin = "provided"
    elif code and static and static.syntax_ok and not blocked and settings.generate_tests:
        tests, entry_point = await generate_tests(
            test_writer, request=request_text, entry_point=entry_point
        )
        tests_origin = "generated" if tests else None
    plan = TestPlan()
    plan_error = None
    if tests:
        try:
            plan = cached_plan(tests, entry_point)
        except TestsInvalid as exc:
            plan_error = str(exc)
            tests_origin = None
    execution = None
    if code and static and static.syntax_ok and not blocked:
        execution = await _execute(sandbox, code=code, plan=plan, entry_point=entry_point)

    scoring = functools.partial(
        combine,
        settings=settings,
        has_code=code is not None,
        static=static,
        execution=execution,
        tests_origin=tests_origin,
        entry_point=entry_point,
        dangerous_gates=not isolated,
    )
    # Without the judge: when a hard gate (no code, syntax, load error, failing tests,
    # timeout...) already decides the failure, the judge could not change the verdict.
    result = scoring(judge=None, judge_error=None)
    verdict, judge_error, skipped = None, None, None
    if code and result.gates:
        skipped = f"not asked: {', '.join(result.gates)} already decide the verdict"
        metrics.LLM_CALLS_SAVED.labels("judge", result.gates[0]).inc()
    elif code:
        evidence = _evidence(
            entry_point=entry_point,
            static=static.as_dict() if static else {},
            execution=execution,
            tests_origin=tests_origin,
        )
        verdict, judge_error, _ = await judge_code(
            judge, request=request_text, code=code, evidence=evidence
        )
        result = scoring(judge=verdict, judge_error=judge_error)
    metrics.EVALUATIONS.labels(
        body.task_type, str(result.passed).lower(), result.category or "none"
    ).inc()
    metrics.EVALUATION_SCORE.labels(body.task_type).observe(result.score)
    judge_detail: dict[str, Any] = {"available": verdict is not None or not code or bool(skipped)}
    if verdict is not None:
        judge_detail.update(verdict.model_dump())
    if skipped:
        judge_detail["skipped"] = skipped
    if judge_error:
        judge_detail["error"] = judge_error
        judge_detail["rule_only_score"] = True
    return EvaluateResponse(
        request_id=body.request_id,
        score=result.score,
        passed=result.passed,
        failure_category=result.category,
        code=code,
        detail=EvaluationDetail(
            rule_score=result.rule_score,
            llm_score=result.llm_score,
            gates=result.gates,
            checks={
                "rule_parts": result.rule_parts,
                "static": static.as_dict() if static else None,
                "signals": list(static.dangerous) if static and isolated else [],
                "isolation": sandbox.effective_isolation.name.lower(),
                "tests_error": plan_error,
            },
            execution=execution.as_dict() if execution else None,
            judge=judge_detail,
            tests_origin=tests_origin,
            tests=tests if tests_origin == "generated" else None,
            code_source=code_source,
        ),
    )
