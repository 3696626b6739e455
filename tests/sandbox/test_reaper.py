"""One-bwrap-per-job leaves an orphan per job; the service adopts and reaps them, so zombies
of the sandbox uid never pile up to RLIMIT_NPROC (which would refuse every later job)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from selfheal.core.config import SandboxSettings, get_settings
from selfheal.sandbox.process import BwrapSandbox
from selfheal.sandbox.runner import run_tests
from selfheal.sandbox.testplan import build_plan

needs_bwrap = pytest.mark.skipif(
    not BwrapSandbox.available(get_settings().sandbox)[0]
    and os.environ.get("SELFHEAL_REQUIRE_BWRAP") != "1",
    reason="bubblewrap is not installed",
)


def _zombie_bwraps() -> int:
    count = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name, rest = stat.split("(", 1)[1].rsplit(")", 1)
        state, parent = rest.split()[:2]
        # ours only: other services on the machine may have zombies of their own
        if name == "bwrap" and state == "Z" and int(parent) == os.getpid():
            count += 1
    return count


@needs_bwrap
async def test_many_bwrap_jobs_leave_no_zombies() -> None:
    box = BwrapSandbox(SandboxSettings(max_processes=16))
    plan = build_plan("assert f(2) == 4", "f")
    before = _zombie_bwraps()
    for _ in range(40):  # more jobs than the sandbox uid may have processes
        verdict = await run_tests(
            box, code="def f(x):\n    return x * 2\n", plan=plan, entry_point="f"
        )
        assert verdict.passed == 1
    # The last job's orphan may die after that job's reap (the next job reaps it); without
    # reaping there would be one per job.
    assert _zombie_bwraps() <= before + 1
