"""Choosing a backend: safe by default, weak isolation only on the operator's opt-in."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import ClassVar

import pytest

from selfheal.core.config import SandboxSettings, get_settings
from selfheal.core.errors import ConfigurationError, SandboxError
from selfheal.sandbox.base import ExecResult, Isolation, Job, Sandbox
from selfheal.sandbox.registry import BACKENDS, RefusingSandbox, build_sandbox, start_sandbox
from selfheal.sandbox.zygote import ZygoteSandbox

MISSING = "/nonexistent/selfheal-test/bwrap"
BWRAP_OK, BWRAP_WHY = ZygoteSandbox.available(get_settings().sandbox)


def test_the_default_minimum_is_bubblewrap() -> None:
    assert SandboxSettings().min_isolation == "bwrap"


def test_without_bubblewrap_the_default_runs_nothing_and_says_how_to_fix_it() -> None:
    box = build_sandbox(SandboxSettings(bwrap=MISSING))
    assert isinstance(box, RefusingSandbox)
    assert box.refusal is not None
    for words in (
        MISSING,
        "apt-get install bubblewrap",
        "set SANDBOX_MIN_ISOLATION=process to accept weaker isolation",
    ):
        assert words in box.refusal
    assert box.status == {
        "backend": "none",
        "isolation": "none",
        "ok": False,
        "reason": box.refusal,
    }


async def test_a_refusing_sandbox_runs_no_job() -> None:
    box = build_sandbox(SandboxSettings(bwrap=MISSING))
    with pytest.raises(SandboxError, match="runs no code"):
        await box.run(Job(code="print(1)", tests={}))


def test_the_opt_in_gives_weak_isolation_with_a_warning() -> None:
    box = build_sandbox(SandboxSettings(bwrap=MISSING, min_isolation="process"))
    assert box.name == "process" and box.refusal is None
    assert box.effective_isolation < Isolation.BWRAP
    assert box.status["ok"] is True and "WEAK ISOLATION" in box.status["warning"]


@pytest.mark.skipif(
    not BWRAP_OK and os.environ.get("SELFHEAL_REQUIRE_BWRAP") != "1", reason=BWRAP_WHY
)
def test_with_bubblewrap_the_default_is_the_zygote_without_a_warning() -> None:
    box = build_sandbox(SandboxSettings())
    assert box.name == "zygote" and box.refusal is None
    assert box.status["isolation"] == "bwrap" and "warning" not in box.status


def test_an_unknown_backend_fails_at_start_up() -> None:
    with pytest.raises(ConfigurationError, match="unknown SANDBOX_BACKEND"):
        build_sandbox(SandboxSettings(backend="chroot"))


class _WontStart(Sandbox):
    name: ClassVar[str] = "wont-start-test"
    isolation: ClassVar[Isolation] = Isolation.PROCESS

    async def start(self) -> None:
        raise SandboxError("the zygote cannot create per-job namespaces")

    async def run(self, job: Job) -> ExecResult:  # pragma: no cover - never started
        raise AssertionError


@pytest.fixture
def wont_start() -> Iterator[None]:
    BACKENDS[_WontStart.name] = _WontStart
    yield
    del BACKENDS[_WontStart.name]


async def test_a_backend_that_cannot_start_becomes_a_refusal(wont_start: None) -> None:
    box = await start_sandbox(SandboxSettings(backend=_WontStart.name, min_isolation="process"))
    assert box.refusal is not None and "per-job namespaces" in box.refusal
    assert box.status["ok"] is False
