"""Evaluation policy: dangerous constructs are signals under real isolation and gates (without
running the code) under weak isolation; the judge is not asked when the sandbox already
decided the failure; whatever the sandbox throws becomes a verdict."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from typing import ClassVar

import pytest
from prometheus_client import REGISTRY

from selfheal.core.config import EvaluatorSettings, LLMSettings, SandboxSettings, get_settings
from selfheal.core.errors import DownstreamUnavailable
from selfheal.llm.base import LLMRequest, LLMResponse, Provider, Role
from selfheal.llm.client import LLMClient
from selfheal.llm.registry import register_provider
from selfheal.sandbox.base import ExecResult, Isolation, Job, Sandbox
from selfheal.sandbox.process import ProcessSandbox
from selfheal.sandbox.registry import RefusingSandbox
from selfheal.sandbox.zygote import ZygoteSandbox
from selfheal.services.evaluator.schemas import EvaluateRequest, EvaluateResponse
from selfheal.services.evaluator.service import evaluate

BWRAP_OK, BWRAP_WHY = ZygoteSandbox.available(get_settings().sandbox)
needs_bwrap = pytest.mark.skipif(
    not BWRAP_OK and os.environ.get("SELFHEAL_REQUIRE_BWRAP") != "1", reason=BWRAP_WHY
)
SETTINGS = SandboxSettings(timeout_s=3, job_timeout_s=10, pool_size=1)
VERDICT = {"relevance": 1, "correctness": 0.9, "quality": 0.8, "safety": 1, "reasoning": "ok"}


@register_provider
class CountingJudge(Provider):
    """Always the same verdict; counts how often it was asked."""

    name: ClassVar[str] = "counting-judge-test"
    needs_api_key: ClassVar[bool] = False
    calls: ClassVar[int] = 0

    async def generate(self, request: LLMRequest) -> LLMResponse:
        type(self).calls += 1
        return LLMResponse(text=json.dumps(VERDICT), provider=self.name, model=self.model)


@pytest.fixture
async def judge() -> AsyncIterator[LLMClient]:
    CountingJudge.calls = 0
    client = LLMClient.for_role(LLMSettings(provider=CountingJudge.name, max_retries=0), Role.JUDGE)
    yield client
    await client.aclose()


@pytest.fixture
async def isolated() -> AsyncIterator[ZygoteSandbox]:
    if not BWRAP_OK:
        pytest.skip(BWRAP_WHY)
    box = ZygoteSandbox(SETTINGS)
    await box.start()
    yield box
    await box.aclose()


async def run(
    sandbox: Sandbox,
    judge: LLMClient,
    code: str,
    tests: str | None,
    entry_point: str,
    *,
    reply: str | None = None,
) -> EvaluateResponse:
    body = EvaluateRequest(
        request_id="r1",
        task_type="code_generation",
        user_input=f"write {entry_point}",
        worker_output=reply or f"```python\n{code}```",
        tests=tests,
        entry_point=entry_point,
    )
    return await evaluate(
        body,
        settings=EvaluatorSettings(generate_tests=False),
        sandbox=sandbox,
        judge=judge,
        test_writer=judge,
    )


def saved(reason: str) -> float:
    value = REGISTRY.get_sample_value(
        "selfheal_llm_calls_saved_total", {"role": "judge", "reason": reason}
    )
    return value or 0.0


# Correct everyday programs that the old dangerous-construct list failed as unsafe_code.
EVERYDAY = [
    pytest.param(
        "import subprocess\n\ndef echo(s):\n    return subprocess.run(['/bin/echo', s], capture_output=True, text=True).stdout.strip()\n",
        "assert echo('hi') == 'hi'\n",
        "echo",
        id="subprocess",
    ),
    pytest.param(
        "import pickle\n\ndef roundtrip(x):\n    return pickle.loads(pickle.dumps(x))\n",
        "assert roundtrip({'a': [1, 2]}) == {'a': [1, 2]}\n",
        "roundtrip",
        id="pickle",
    ),
    pytest.param(
        "import inspect\n\ndef arity(f):\n    return len(inspect.signature(f).parameters)\n\ndef two(a, b):\n    return a\n",
        "assert arity(two) == 2\n",
        "arity",
        id="inspect",
    ),
    pytest.param(
        "import importlib\n\ndef sqrt(x):\n    return importlib.import_module('math').sqrt(x)\n",
        "assert sqrt(9) == 3.0\n",
        "sqrt",
        id="importlib",
    ),
    pytest.param(
        "import builtins\n\ndef biggest(xs):\n    return builtins.max(xs)\n",
        "assert biggest([3, 9, 2]) == 9\n",
        "biggest",
        id="builtins",
    ),
    pytest.param(
        "import os\n\ndef shout(s):\n    os.write(1, s.upper().encode())\n    return len(s)\n",
        "assert shout('abc') == 3\n",
        "shout",
        id="os.write",
    ),
    pytest.param(
        "from re import compile\n\nWORD = compile(r'[a-z]+')\n\ndef words(s):\n    return WORD.findall(s)\n",
        "assert words('ab, cd!') == ['ab', 'cd']\n",
        "words",
        id="from-re-import-compile",
    ),
    pytest.param(
        "import sys\n\ndef add(a, b):\n    return a + b\n\ndef main():\n    print(add(1, 2))\n    return 0\n\nif __name__ == '__main__':\n    sys.exit(main())\n",
        "assert add(2, 3) == 5\n",
        "add",
        id="main-guard-sys-exit",
    ),
]


@needs_bwrap
@pytest.mark.parametrize(("code", "tests", "entry_point"), EVERYDAY)
async def test_everyday_code_passes_under_real_isolation(
    isolated: ZygoteSandbox, judge: LLMClient, code: str, tests: str, entry_point: str
) -> None:
    result = await run(isolated, judge, code, tests, entry_point)
    assert result.passed is True, (result.failure_category, result.detail.execution)
    assert result.failure_category is None and result.detail.gates == []
    assert result.detail.checks["isolation"] == "bwrap"


@needs_bwrap
async def test_dangerous_constructs_are_reported_as_signals(
    isolated: ZygoteSandbox, judge: LLMClient
) -> None:
    code = "import subprocess\n\ndef f():\n    return subprocess.run(['/bin/true']).returncode\n"
    result = await run(isolated, judge, code, "assert f() == 0\n", "f")
    assert result.passed is True
    assert result.detail.checks["signals"] == ["import subprocess"]
    assert result.detail.checks["rule_parts"]["safe"] == 0.0


async def test_weak_isolation_gates_dangerous_code_without_running_it(judge: LLMClient) -> None:
    box = ProcessSandbox(SETTINGS)
    assert box.effective_isolation < Isolation.BWRAP
    code = "import os\n\ndef f():\n    os.system('touch /tmp/selfheal-policy-ran')\n    return 1\n"
    result = await run(box, judge, code, "assert f() == 1\n", "f")
    assert result.passed is False and result.failure_category == "unsafe_code"
    assert result.detail.execution is None  # never run
    assert "dangerous_code" in result.detail.gates
    assert CountingJudge.calls == 0


async def test_failing_tests_decide_without_the_judge(judge: LLMClient) -> None:
    before = saved("failing_tests")
    code = "def add(a, b):\n    return a - b\n"
    result = await run(ProcessSandbox(SETTINGS), judge, code, "assert add(1, 2) == 3\n", "add")
    assert CountingJudge.calls == 0
    assert result.passed is False and result.failure_category == "test_failure"
    assert result.detail.llm_score is None
    # judge not asked: the rules rank the miss, scaled below the gate cap
    assert result.score == round(EvaluatorSettings().gate_cap * result.detail.rule_score, 4)
    assert result.score < EvaluatorSettings().pass_threshold
    assert "failing_tests" in result.detail.judge["skipped"]
    assert saved("failing_tests") == before + 1


@pytest.mark.parametrize(
    ("reply", "tests", "category", "gate"),
    [
        ("I cannot help with that.", "assert f() == 1\n", "no_code", None),
        (
            "```python\ndef f(:\n    return 1\n```",
            "assert f() == 1\n",
            "syntax_error",
            "syntax_error",
        ),
        (
            "```python\nraise ImportError('x')\ndef f():\n    return 1\n```",
            "assert f() == 1\n",
            "runtime_error",
            "load_error",
        ),
        (
            "```python\ndef f():\n    while True:\n        pass\n```",
            "assert f() == 1\n",
            "timeout",
            "timeout",
        ),
    ],
)
async def test_other_hard_gates_skip_the_judge(
    judge: LLMClient, reply: str, tests: str, category: str, gate: str | None
) -> None:
    settings = SandboxSettings(timeout_s=1, job_timeout_s=3)
    before = saved(gate) if gate else 0.0
    result = await run(ProcessSandbox(settings), judge, "", tests, "f", reply=reply)
    assert CountingJudge.calls == 0
    assert result.passed is False and result.failure_category == category
    assert result.score <= EvaluatorSettings().gate_cap
    if gate:
        assert saved(gate) == before + 1


async def test_passing_code_is_judged_and_scored_forty_sixty(judge: LLMClient) -> None:
    code = "def add(a, b):\n    return a + b\n"
    result = await run(ProcessSandbox(SETTINGS), judge, code, "assert add(1, 2) == 3\n", "add")
    assert CountingJudge.calls == 1
    llm = 0.2 * 1 + 0.5 * 0.9 + 0.15 * 0.8 + 0.15 * 1
    assert result.detail.llm_score == pytest.approx(llm)
    assert result.score == pytest.approx(0.4 * result.detail.rule_score + 0.6 * llm, abs=1e-4)
    assert result.passed is True and "skipped" not in result.detail.judge


async def test_a_refusing_sandbox_evaluates_nothing(judge: LLMClient) -> None:
    box = RefusingSandbox(SandboxSettings(), "the evaluator runs no code: bwrap is missing.")
    with pytest.raises(DownstreamUnavailable, match="bwrap is missing"):
        await run(box, judge, "def f():\n    return 1\n", "assert f() == 1\n", "f")
    assert CountingJudge.calls == 0


class ExplodingSandbox(Sandbox):
    """A backend that breaks in a way nobody planned for."""

    name: ClassVar[str] = "exploding-test"
    isolation: ClassVar[Isolation] = Isolation.BWRAP

    async def run(self, job: Job) -> ExecResult:
        raise ValueError("unexpected bytes from a child")


class GarbageSandbox(Sandbox):
    """A backend whose child wrote a malformed report."""

    name: ClassVar[str] = "garbage-test"
    isolation: ClassVar[Isolation] = Isolation.BWRAP

    async def run(self, job: Job) -> ExecResult:
        report = (
            b'{"kind":"load","loaded":[1]}\n[[[[[[[[\n{"kind":"unit","id":5}\n\xff\xfe'
            + b"9" * 5000
        )
        return ExecResult(
            backend=self.name, exit_code=0, timed_out=False, duration_ms=1.0, report=report
        )


@pytest.mark.parametrize("cls", [ExplodingSandbox, GarbageSandbox])
async def test_whatever_the_sandbox_does_becomes_a_failing_verdict(
    judge: LLMClient, cls: type[Sandbox]
) -> None:
    code = "def f():\n    return 1\n"
    result = await run(cls(SETTINGS), judge, code, "assert f() == 1\n", "f")
    assert result.passed is False
    assert result.failure_category == "runtime_error"
    assert result.detail.execution is not None
    assert result.detail.execution["status"] in ("crashed", "load_error")


async def test_a_long_reply_is_read_off_the_event_loop_and_judged(judge: LLMClient) -> None:
    reply = "Some explanation.\n" * 5000 + "```python\ndef add(a, b):\n    return a + b\n```\n"
    assert len(reply) > 64 * 1024
    result = await run(
        ProcessSandbox(SETTINGS), judge, "", "assert add(1, 2) == 3\n", "add", reply=reply
    )
    assert result.code == "def add(a, b):\n    return a + b\n"
    assert result.passed is True and CountingJudge.calls == 1
