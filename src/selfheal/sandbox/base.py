"""The sandbox interface: run one untrusted job, return what happened.

A backend runs a job as two confined processes (``zygote_main.py``): the code under test in
one, the tests in the other (``harness.py``), and hands back the tests' report, read from a
channel separate from the program's own stdout/stderr.
"""

from __future__ import annotations

import shutil
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, ClassVar

from selfheal.core.config import SandboxSettings


class Isolation(IntEnum):
    """How strongly a backend isolates a job (higher is stronger)."""

    PROCESS = 1  # separate process, rlimits, process group, scrubbed env
    NAMESPACES = 2  # + own network namespace
    BWRAP = 3  # + bubblewrap: own mount/PID/IPC/UTS/net namespaces, read-only system


def bwrap_executable(settings: SandboxSettings) -> str | None:
    """``SANDBOX_BWRAP`` resolved: a path, or a name looked up on PATH; None when absent."""
    return shutil.which(settings.bwrap)


@dataclass(slots=True, frozen=True)
class Job:
    """What one sandboxed run needs: the code, and the tests' plan (only the tests' process
    ever reads it)."""

    code: str
    tests: dict[str, Any]


@dataclass(slots=True)
class ExecResult:
    backend: str
    exit_code: int | None  # the code's process
    timed_out: bool  # the job's time cap ended it
    duration_ms: float
    stdout: str = ""
    stderr: str = ""
    report: bytes = b""  # the tests' process's report (JSON lines), unparsed
    violation: str | None = None
    output_truncated: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


class Sandbox(ABC):
    name: ClassVar[str]
    isolation: ClassVar[Isolation]
    # Set when this sandbox runs nothing (the minimum isolation cannot be had): the sentence
    # saying what is missing and how to get it.
    refusal: str | None = None

    def __init__(self, settings: SandboxSettings) -> None:
        self.settings = settings
        self.status: dict[str, Any] = {}  # what /ready shows about this backend

    @classmethod
    def available(cls, settings: SandboxSettings) -> tuple[bool, str]:
        """Whether this machine can run the backend, and why not."""
        return True, ""

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Warm up (e.g. start zygotes)."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Stop helper processes."""

    @property
    def effective_isolation(self) -> Isolation:
        """The isolation this instance actually gives (may be below the class's best)."""
        return self.isolation

    @abstractmethod
    async def run(self, job: Job) -> ExecResult:
        """Run ``job`` under this backend's isolation and limits."""
