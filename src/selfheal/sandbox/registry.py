"""Sandbox backends by name; ``auto`` picks the strongest one this machine supports.

Safe by default: when no backend gives ``SANDBOX_MIN_ISOLATION`` (``bwrap`` unless the
operator lowers it), :func:`build_sandbox` returns a :class:`RefusingSandbox` that runs
nothing and says, in one sentence, what is missing and how to get it; the evaluator answers
503 with that sentence and ``/ready`` is not ready. Weaker isolation runs only when the
operator asked for it, and then with a loud warning.
"""

from __future__ import annotations

import contextlib
import logging
from typing import ClassVar

from selfheal.core import metrics
from selfheal.core.config import SandboxSettings
from selfheal.core.errors import ConfigurationError, SandboxError
from selfheal.sandbox.base import ExecResult, Isolation, Job, Sandbox, bwrap_executable
from selfheal.sandbox.process import BwrapSandbox, ProcessSandbox
from selfheal.sandbox.zygote import ZygoteSandbox

log = logging.getLogger(__name__)

BACKENDS: dict[str, type[Sandbox]] = {
    ProcessSandbox.name: ProcessSandbox,
    BwrapSandbox.name: BwrapSandbox,
    ZygoteSandbox.name: ZygoteSandbox,
}
# Strongest (then fastest) first.
AUTO_ORDER = ("zygote", "bwrap", "process")
OPT_OUT = "set SANDBOX_MIN_ISOLATION=process to accept weaker isolation"


class RefusingSandbox(Sandbox):
    """Stands in for a backend when the minimum isolation cannot be had: runs nothing."""

    name: ClassVar[str] = "none"
    isolation: ClassVar[Isolation] = Isolation.PROCESS

    def __init__(self, settings: SandboxSettings, reason: str) -> None:
        super().__init__(settings)
        self.refusal = reason
        self.status.update(backend=self.name, isolation="none", ok=False, reason=reason)

    async def run(self, job: Job) -> ExecResult:
        raise SandboxError(self.refusal or "the sandbox runs no code")


def missing_isolation(settings: SandboxSettings, reasons: list[str]) -> str:
    """The sentence an operator reads: what is missing, and the two ways out."""
    minimum = settings.min_isolation
    found = bwrap_executable(settings)
    if found is None:
        what = f"bubblewrap is not installed (SANDBOX_BWRAP={settings.bwrap} was not found)"
        fix = "install it (apt-get install bubblewrap, or dnf install bubblewrap)"
    else:
        detail = "; ".join(reasons) or "no backend can start"
        what = f"bubblewrap ({found}) cannot start a sandbox here ({detail})"
        fix = (
            "allow unprivileged user namespaces for the service's user "
            "(see docs/deploy.md, 'The sandbox and its privileges')"
        )
    return (
        f"the evaluator runs no code: SANDBOX_MIN_ISOLATION={minimum} needs bubblewrap, and "
        f"{what}. To fix it, {fix}, or {OPT_OUT}."
    )


def build_sandbox(settings: SandboxSettings) -> Sandbox:
    """The configured backend, or a :class:`RefusingSandbox` when it would give less
    isolation than ``SANDBOX_MIN_ISOLATION``. An unknown backend name fails at start-up."""
    names = AUTO_ORDER if settings.backend == "auto" else (settings.backend,)
    for name in names:
        if name not in BACKENDS:
            raise ConfigurationError(
                f"unknown SANDBOX_BACKEND {name!r}; known: auto, {', '.join(sorted(BACKENDS))}"
            )
    minimum = Isolation[settings.min_isolation.upper()]
    reasons: list[str] = []
    for name in names:
        cls = BACKENDS[name]
        ok, why = cls.available(settings)
        if not ok:
            reasons.append(f"{name}: {why}")
            continue
        sandbox = cls(settings)
        level = sandbox.effective_isolation
        if level < minimum:
            reasons.append(f"{name}: gives isolation {level.name.lower()} here")
            continue
        metrics.SANDBOX_ISOLATION.labels(name, level.name.lower()).set(1)
        status = {"backend": name, "isolation": level.name.lower(), "ok": True}
        if level < Isolation.BWRAP:
            status["warning"] = weak_isolation_warning(settings, level)
            log.error("SANDBOX: %s", status["warning"])
        else:
            log.warning(
                "SANDBOX: untrusted code runs under backend=%s isolation=%s (minimum %s)%s",
                name,
                level.name.lower(),
                settings.min_isolation,
                "" if not reasons else "; stronger backends unavailable: " + "; ".join(reasons),
            )
        sandbox.status.update(status)
        return sandbox
    if settings.backend != "auto" and BACKENDS[settings.backend].isolation < minimum:
        reason = (
            f"the evaluator runs no code: SANDBOX_BACKEND={settings.backend} gives isolation "
            f"{BACKENDS[settings.backend].isolation.name.lower()}, below "
            f"SANDBOX_MIN_ISOLATION={settings.min_isolation}. Use SANDBOX_BACKEND=auto with "
            f"bubblewrap installed (apt-get install bubblewrap), or {OPT_OUT}."
        )
    else:
        reason = missing_isolation(settings, reasons)
    return refuse(settings, reason)


def refuse(settings: SandboxSettings, reason: str) -> RefusingSandbox:
    """A sandbox that runs nothing and says why (logged, and shown by ``/ready``)."""
    log.error("SANDBOX: %s", reason)
    metrics.SANDBOX_ISOLATION.labels(RefusingSandbox.name, "none").set(1)
    return RefusingSandbox(settings, reason)


def weak_isolation_warning(settings: SandboxSettings, level: Isolation) -> str:
    return (
        f"WEAK ISOLATION: SANDBOX_MIN_ISOLATION={settings.min_isolation} lets untrusted code run "
        f"with isolation {level.name.lower()} (no bubblewrap): it shares the host's files and "
        "the service's user. Install bubblewrap (apt-get install bubblewrap) and unset "
        "SANDBOX_MIN_ISOLATION for real isolation."
    )


async def start_sandbox(settings: SandboxSettings) -> Sandbox:
    """Build and start the sandbox; a backend that cannot start becomes a refusal."""
    sandbox = build_sandbox(settings)
    try:
        await sandbox.start()
    except (SandboxError, OSError) as exc:
        with contextlib.suppress(Exception):
            await sandbox.aclose()
        return refuse(
            settings,
            f"the evaluator runs no code: the {sandbox.name} sandbox could not start ({exc}). "
            f"Check that bubblewrap works for the service's user (docs/deploy.md), or {OPT_OUT}.",
        )
    return sandbox
