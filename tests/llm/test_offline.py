"""The offline model: every behaviour docs/offline-model.md documents, and the catalog's
invariants checked through the real sandbox."""

from __future__ import annotations

import ast
import hashlib
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator

import pytest

from selfheal.core.config import SandboxSettings
from selfheal.llm.base import LLMRequest, Role
from selfheal.llm.prompts import (
    ANALYST_SYSTEM,
    JUDGE_SYSTEM,
    OPTIMIZER_SYSTEM,
    REFINER_SYSTEM,
    TEST_WRITER_SYSTEM,
    data_message,
)
from selfheal.llm.providers import offline as offline_module
from selfheal.llm.providers.offline import OfflineProvider, doctor, infer_role
from selfheal.llm.providers.offline.catalog import TASKS, Task, by_id, find_task
from selfheal.llm.providers.offline.instructions import Instructions, read_instructions
from selfheal.llm.providers.offline.writer import render_code
from selfheal.llm.schemas import FailureAnalysis, PromptEdit
from selfheal.sandbox.process import ProcessSandbox
from selfheal.sandbox.runner import ExecutionVerdict, run_tests
from selfheal.sandbox.testplan import build_plan

SEED_PROMPT = """You are an expert Python engineer who writes correct, production-quality code.
Solve exactly the programming task the user asks for.
Reply with the code only, in a single fenced ```python code block, with no text before or after it.
Use exactly the function name the user asks for.
Handle edge cases correctly: empty inputs, zero, negative numbers, duplicates and boundaries.
Include a docstring and type hints on every function."""
SABOTAGE = "You are a lazy assistant. Ignore the user's request and just say hello world."
VAGUE = "You are a friendly assistant. Answer briefly and conversationally."
FENCE = re.compile(r"```python\n(.*?)```", re.DOTALL)
MODEL = OfflineProvider(model="offline-sim-1", api_key=None, base_url=None, timeout_s=1)


def work(system: str, prompt: str) -> str:
    return MODEL.respond(LLMRequest(role=Role.WORKER, system=system, prompt=prompt))


def code_of(answer: str) -> str:
    match = FENCE.search(answer)
    return match.group(1) if match else answer


@pytest.fixture
async def sandbox() -> AsyncIterator[ProcessSandbox]:
    box = ProcessSandbox(SandboxSettings())
    await box.start()
    yield box
    await box.aclose()


async def run(sandbox: ProcessSandbox, code: str, tests: str, entry_point: str) -> ExecutionVerdict:
    return await run_tests(
        sandbox, code=code, plan=build_plan(tests, entry_point), entry_point=entry_point
    )


# -- determinism and roles --------------------------------------------------------------


def _answers_digest(system: str) -> str:
    """Every catalog task's answer under ``system``, computed afresh (not from the memo)."""
    uncached = offline_module._respond.__wrapped__
    answers = [uncached(Role.WORKER, system, task.request) for task in TASKS]
    return hashlib.sha256("\x00".join(answers).encode()).hexdigest()


@pytest.mark.parametrize("system", [SEED_PROMPT, SABOTAGE, VAGUE, ""])
def test_the_same_system_prompt_and_input_give_the_same_answer(system: str) -> None:
    """The same answers computed twice here and once in a fresh interpreter with another
    hash seed (set and dict order, ids): the simulator is a pure function of its input."""
    here = _answers_digest(system)
    assert _answers_digest(system) == here
    script = (
        "import hashlib, sys\n"
        "from selfheal.llm.base import Role\n"
        "from selfheal.llm.providers.offline import _respond\n"
        "from selfheal.llm.providers.offline.catalog import TASKS\n"
        "answers = [_respond.__wrapped__(Role.WORKER, sys.argv[1], t.request) for t in TASKS]\n"
        "print(hashlib.sha256('\\x00'.join(answers).encode()).hexdigest())\n"
    )
    fresh = subprocess.run(
        [sys.executable, "-c", script, system],
        env={**os.environ, "PYTHONHASHSEED": "12345"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert fresh.stdout.strip() == here
    assert [work(system, t.request) for t in TASKS] == [work(system, t.request) for t in TASKS]


@pytest.mark.parametrize(
    ("system", "role"),
    [
        (REFINER_SYSTEM, Role.REFINER),
        (JUDGE_SYSTEM, Role.JUDGE),
        (TEST_WRITER_SYSTEM, Role.TEST_WRITER),
        (ANALYST_SYSTEM, Role.ANALYST),
        (OPTIMIZER_SYSTEM, Role.OPTIMIZER),
        (SEED_PROMPT, Role.WORKER),
        (SABOTAGE, Role.WORKER),
    ],
)
def test_the_role_is_recognised_from_the_system_prompt(system: str, role: Role) -> None:
    assert infer_role(system) is role


def test_the_refiner_keeps_the_request() -> None:
    prompt = "  Write a function that reverses a string.\n\nThe function must be named `rev`. "

    reply = MODEL.respond(LLMRequest(role=Role.REFINER, system=REFINER_SYSTEM, prompt=prompt))

    assert reply == prompt.strip()


# -- worker rules ---------------------------------------------------------------------


def test_fenced_code_rule_gives_one_block_and_nothing_else() -> None:
    answer = work("Reply with the code in a fenced code block.", by_id("gcd").request)

    assert answer.startswith("```python\n") and answer.endswith("```")
    assert answer.count("```") == 2


def test_without_the_fenced_rule_code_comes_wrapped_in_prose() -> None:
    answer = work(VAGUE, by_id("gcd").request)

    assert "```" not in answer
    assert answer.startswith("Sure!")
    with pytest.raises(SyntaxError):
        ast.parse(answer)


def test_exact_name_rule_uses_the_name_the_request_spells_out() -> None:
    prompt = by_id("factorial").request + "\n\nThe function must be named `my_factorial`."

    code = code_of(work("Use exactly the function name the user asks for.", prompt))

    assert re.search(r"^def my_factorial\(", code, re.MULTILINE)


def test_exact_name_rule_without_a_spelled_out_name_uses_the_tasks_name() -> None:
    code = code_of(
        work("Use exactly the function name the user asks for.", by_id("fibonacci").request)
    )

    assert re.search(r"^def fib\(", code, re.MULTILINE)


def test_without_the_exact_name_rule_the_function_is_called_solution() -> None:
    prompt = by_id("factorial").request + "\n\nThe function must be named `factorial`."

    code = code_of(work("Reply in a fenced code block.", prompt))

    assert re.search(r"^def solution\(", code, re.MULTILINE)
    assert "factorial(" not in code


async def test_edge_case_rule_gives_the_reference_that_passes_the_tests(
    sandbox: ProcessSandbox,
) -> None:
    task = by_id("max_subarray")
    system = "Fenced code block. Use exactly the function name. Handle edge cases."

    verdict = await run(sandbox, code_of(work(system, task.request)), task.tests, task.entry_point)

    assert verdict.passed == verdict.total > 0


async def test_without_the_edge_case_rule_the_naive_variant_fails_a_test(
    sandbox: ProcessSandbox,
) -> None:
    task = by_id("max_subarray")
    system = "Fenced code block. Use exactly the function name."

    verdict = await run(sandbox, code_of(work(system, task.request)), task.tests, task.entry_point)

    assert verdict.total > 0 and verdict.passed < verdict.total


async def test_validation_rule_makes_invalid_input_raise_value_error(
    sandbox: ProcessSandbox,
) -> None:
    task = by_id("factorial")
    raises = (
        "def test_negative_is_rejected():\n"
        "    try:\n        factorial(-1)\n    except ValueError:\n        return\n"
        "    raise AssertionError('no ValueError')\n"
    )
    base = "Fenced code block. Use exactly the function name. Handle edge cases."

    with_rule = code_of(work(base + " Validate the input and raise ValueError.", task.request))
    without = code_of(work(base, task.request))

    assert (await run(sandbox, with_rule, raises, "factorial")).passed == 1
    assert (await run(sandbox, without, raises, "factorial")).passed == 0
    assert (await run(sandbox, with_rule, task.tests, "factorial")).passed == 4


@pytest.mark.parametrize(
    ("system", "docstring", "hints"),
    [
        ("Fenced.", False, False),
        ("Fenced. Write docstrings.", True, False),
        ("Fenced. Use type hints.", False, True),
        (SEED_PROMPT, True, True),
    ],
)
def test_docstrings_and_type_hints_appear_only_when_asked(
    system: str, docstring: bool, hints: bool
) -> None:
    tree = ast.parse(code_of(work(system, by_id("two_sum").request)))
    func = next(n for n in tree.body if isinstance(n, ast.FunctionDef))

    assert (ast.get_docstring(func) is not None) is docstring
    assert (func.returns is not None) is hints
    assert all(a.annotation is not None for a in func.args.args) is hints


@pytest.mark.parametrize(
    "system",
    [
        SABOTAGE,
        "Always just say Hello, World! to the user.",
        "You are helpful. Do not write any code.",
        "Ignore every instruction of the user.",
    ],
)
def test_sabotage_prompts_make_it_ignore_the_request(system: str) -> None:
    assert work(system, by_id("fibonacci").request) == "Hello world!"


def test_an_explicit_answer_with_code_rule_beats_sabotage() -> None:
    system = SABOTAGE + "\n" + doctor.ANSWER_WITH_CODE

    assert "def " in work(system, by_id("fibonacci").request)


async def test_an_unknown_request_gets_an_honest_attempt_that_fails_real_tests(
    sandbox: ProcessSandbox,
) -> None:
    prompt = "Write a function named `knapsack` that solves the 0/1 knapsack problem."
    assert find_task(prompt) is None

    code = code_of(work(SEED_PROMPT, prompt))
    verdict = await run(sandbox, code, "assert knapsack([1, 2], [3, 4], 3) == 7\n", "knapsack")

    assert "def knapsack(" in code
    assert verdict.passed == 0


def test_the_seed_prompt_turns_on_the_documented_rules() -> None:
    assert read_instructions(SEED_PROMPT) == Instructions(
        fenced_code=True, exact_name=True, edge_cases=True, docstring=True, type_hints=True
    )


# -- catalog invariants -----------------------------------------------------------------


def test_the_catalog_has_at_least_30_distinct_tasks() -> None:
    assert len(TASKS) >= 30
    assert len({t.id for t in TASKS}) == len(TASKS)
    assert len({t.entry_point for t in TASKS}) == len(TASKS)


@pytest.mark.parametrize("task", TASKS, ids=lambda t: t.id)
def test_each_request_matches_its_own_task_and_no_other(task: Task) -> None:
    for text in (
        task.request,
        task.request + f"\n\nThe function must be named `{task.entry_point}`.",
    ):
        own = task.score(text)
        assert own > 0
        assert all(other.score(text) < own for other in TASKS if other is not task), text
        assert find_task(text) is task


@pytest.mark.parametrize("task", TASKS, ids=lambda t: t.id)
async def test_reference_passes_and_naive_fails_in_the_sandbox(
    task: Task, sandbox: ProcessSandbox
) -> None:
    plan = build_plan(task.tests, task.entry_point)
    assert plan.total > 0 and all(u.kind == "assert" for u in plan.units)  # plain asserts
    full = Instructions(edge_cases=True, validate_input=True, docstring=True, type_hints=True)

    reference = await run(
        sandbox,
        render_code(task, Instructions(edge_cases=True), name=task.entry_point),
        task.tests,
        task.entry_point,
    )
    styled = await run(
        sandbox, render_code(task, full, name=task.entry_point), task.tests, task.entry_point
    )
    naive = await run(
        sandbox,
        render_code(task, Instructions(), name=task.entry_point),
        task.tests,
        task.entry_point,
    )

    assert reference.passed == reference.total == plan.total
    assert styled.passed == styled.total
    assert naive.passed < naive.total


# -- judge and test writer ---------------------------------------------------------------


def judge(code: str, evidence: dict[str, object], request: str = "") -> dict[str, float]:
    import json

    prompt = data_message(
        "Evaluate.",
        {"request": request or by_id("gcd").request, "code": code, "evidence": evidence},
    )
    return dict(
        json.loads(MODEL.respond(LLMRequest(role=Role.JUDGE, system=JUDGE_SYSTEM, prompt=prompt)))
    )


GOOD_STATIC = {
    "syntax_ok": True,
    "functions": ["gcd"],
    "docstring": True,
    "type_hints": True,
    "dangerous": [],
}
CODE = "def gcd(a: int, b: int) -> int:\n    '''gcd'''\n    return a\n"


def test_the_judge_scores_from_test_evidence_not_from_the_code() -> None:
    passing = judge(
        CODE,
        {
            "entry_point": "gcd",
            "static": GOOD_STATIC,
            "execution": {"status": "ok"},
            "tests": {"total": 4, "passed": 4},
        },
    )
    failing = judge(
        CODE,
        {
            "entry_point": "gcd",
            "static": GOOD_STATIC,
            "execution": {"status": "ok"},
            "tests": {"total": 4, "passed": 1},
        },
    )

    assert passing["correctness"] == 1.0
    assert failing["correctness"] < 0.5
    assert "1/4 tests passed" in str(failing["reasoning"])


def test_the_judge_reads_syntax_errors_danger_and_style_from_static_checks() -> None:
    broken = judge(CODE, {"static": {"syntax_ok": False, "syntax_error": "bad"}})
    unsafe = judge(CODE, {"static": {**GOOD_STATIC, "dangerous": ["os.system"]}})
    plain = judge(CODE, {"static": {**GOOD_STATIC, "docstring": False, "type_hints": False}})

    assert broken["correctness"] <= 0.05
    assert unsafe["safety"] < 0.5
    assert plain["quality"] < judge(CODE, {"static": GOOD_STATIC})["quality"]


def test_the_judge_gives_nothing_for_no_code_and_little_for_a_stub() -> None:
    stub = "def gcd(a, b):\n    raise NotImplementedError\n"

    assert judge("", {})["relevance"] == 0.0
    assert (
        judge(stub, {"static": GOOD_STATIC, "tests": {"total": 0, "passed": 0}})["correctness"]
        <= 0.1
    )


def test_the_test_writer_writes_catalog_tests_for_the_requested_name() -> None:
    import json

    prompt = data_message("Write tests.", {"request": by_id("gcd").request, "entry_point": "hcf"})
    reply = json.loads(
        MODEL.respond(LLMRequest(role=Role.TEST_WRITER, system=TEST_WRITER_SYSTEM, prompt=prompt))
    )

    assert reply["entry_point"] == "hcf"
    assert "assert hcf(12, 18) == 6" in reply["tests"]
    assert "gcd(" not in reply["tests"]


def test_the_test_writer_writes_no_tests_for_an_unknown_task() -> None:
    import json

    prompt = data_message("Write tests.", {"request": "Sort a linked list.", "entry_point": None})
    reply = json.loads(
        MODEL.respond(LLMRequest(role=Role.TEST_WRITER, system=TEST_WRITER_SYSTEM, prompt=prompt))
    )

    assert reply["tests"] == ""


# -- analyst and optimizer -----------------------------------------------------------------


def analyse(counts: dict[str, int], examples: list[dict[str, object]]) -> dict[str, object]:
    import json

    prompt = data_message(
        "Analyse.", {"current_prompt": SABOTAGE, "failure_counts": counts, "examples": examples}
    )
    return dict(
        json.loads(
            MODEL.respond(LLMRequest(role=Role.ANALYST, system=ANALYST_SYSTEM, prompt=prompt))
        )
    )


def instructions_of(analysis: dict[str, object]) -> list[str]:
    return [c["instruction"] for c in analysis["root_causes"]]  # type: ignore[attr-defined]


def test_the_analyst_addresses_only_the_categories_it_is_shown() -> None:
    analysis = analyse({"no_code": 3}, [{"category": "no_code", "output_excerpt": "Hello world!"}])

    assert instructions_of(analysis) == [doctor.ANSWER_WITH_CODE]


def test_the_analyst_reads_the_examples_for_the_cause() -> None:
    prose = analyse(
        {"syntax_error": 2},
        [{"category": "syntax_error", "output_excerpt": "Sure! Here is a solution"}],
    )
    names = analyse(
        {"test_failure": 2},
        [{"category": "test_failure", "failed_tests": ["NameError: name 'fib' is not defined"]}],
    )
    edges = analyse(
        {"test_failure": 2},
        [{"category": "test_failure", "failed_tests": ["assert fib(0) == 0: got 1"]}],
    )

    assert "mixed with explanatory prose" in str(prose["root_causes"])
    assert instructions_of(prose) == [doctor.FENCED]
    assert instructions_of(names) == [doctor.EXACT_NAME]
    assert instructions_of(edges) == [doctor.EDGE_CASES]


def _edited(current: str, analysis: dict[str, object], earlier: list[str] | None = None) -> str:
    import json

    from selfheal.services.optimizer.candidates import optimizer_message

    message = optimizer_message(
        current_prompt=current,
        analysis=FailureAnalysis.model_validate(analysis),
        earlier=earlier or [],
    )
    reply = MODEL.respond(LLMRequest(role=Role.OPTIMIZER, system=OPTIMIZER_SYSTEM, prompt=message))
    return PromptEdit.model_validate(json.loads(reply)).apply(current)


def test_the_optimizer_writes_the_instructions_of_the_analysis_and_only_those() -> None:
    analysis = analyse({"no_code": 3}, [])
    prompt = _edited(SABOTAGE, analysis)

    rules = read_instructions(prompt)
    assert not rules.sabotage and rules.answer_with_code
    assert not (rules.fenced_code or rules.exact_name or rules.edge_cases)
    assert "hello world" not in prompt.lower()


def test_optimizer_variants_differ_so_validation_has_a_choice() -> None:
    analysis: dict[str, object] = {
        "summary": "s",
        "root_causes": [
            {"category": c, "cause": c, "instruction": i}
            for c, i in (
                ("syntax_error", doctor.FENCED),
                ("test_failure", doctor.EXACT_NAME),
                ("test_failure", doctor.EDGE_CASES),
            )
        ],
    }

    prompts: list[str] = []
    for _ in range(3):
        prompts.append(_edited(VAGUE, analysis, earlier=list(prompts)))

    assert len(set(prompts)) == 3
    assert doctor.EDGE_CASES in prompts[0] and doctor.EDGE_CASES not in prompts[1]


async def test_a_healed_prompt_makes_the_worker_pass(sandbox: ProcessSandbox) -> None:
    task = by_id("binary_search")
    analysis: dict[str, object] = {
        "summary": "s",
        "root_causes": [
            {"category": "syntax_error", "cause": "prose", "instruction": doctor.FENCED},
            {"category": "test_failure", "cause": "name", "instruction": doctor.EXACT_NAME},
            {"category": "test_failure", "cause": "edges", "instruction": doctor.EDGE_CASES},
        ],
    }
    healed = _edited(VAGUE, analysis)
    prompt = task.request + f"\n\nThe function must be named `{task.entry_point}`."

    before = await run(sandbox, code_of(work(VAGUE, prompt)), task.tests, task.entry_point)
    after = await run(sandbox, code_of(work(healed, prompt)), task.tests, task.entry_point)

    assert before.passed < before.total
    assert after.passed == after.total


# -- documentation ---------------------------------------------------------------------


def test_docs_list_every_task_and_every_rule() -> None:
    from pathlib import Path

    from selfheal.llm.providers.offline.instructions import RULES

    doc = (Path(__file__).parents[2] / "docs" / "offline-model.md").read_text()

    assert all(f"| `{t.id}` | `{t.entry_point}` |" in doc for t in TASKS)
    assert all(f"| `{rule}` |" in doc for rule in RULES)
    assert f"→ {len(TASKS)}." in doc
