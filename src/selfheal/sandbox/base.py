"""The sandbox interface: run one untrusted job, return what happened.

A backend runs ``harness.py`` on a JSON job with no network, an empty environment, a
throwaway working directory and resource limits, and hands back the harness report read
from a channel separate from the program's own stdout/stderr.
"""

from __future__ import annotations

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


@dataclass(slots=True)
class ExecResult:
    backend: str
    exit_code: int | None
    timed_out: bool
    duration_ms: float
    stdout: str = ""
    stderr: str = ""
    report: dict[str, Any] | None = None
    violation: str | None = None
    output_truncated: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


class Sandbox(ABC):
    name: ClassVar[str]
    isolation: ClassVar[Isolation]

    def __init__(self, settings: SandboxSettings) -> None:
        self.settings = settings
        self.status: dict[str, Any] = {}  # what /ready shows about this backend

    @classmethod
    def available(cls) -> tuple[bool, str]:
        """Whether this machine can run the backend, and why not."""
        return True, ""

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Warm up (e.g. start zygotes)."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Stop helper processes."""

    @abstractmethod
    async def run(self, job: dict[str, Any]) -> ExecResult:
        """Run the harness on ``job`` under this backend's isolation and limits."""
