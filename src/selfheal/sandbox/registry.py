"""Sandbox backends by name; ``auto`` picks the strongest one this machine supports."""

from __future__ import annotations

import logging

from selfheal.core import metrics
from selfheal.core.config import SandboxSettings
from selfheal.core.errors import ConfigurationError
from selfheal.sandbox.base import Isolation, Sandbox
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


def register_backend(cls: type[Sandbox]) -> type[Sandbox]:
    BACKENDS[cls.name] = cls
    return cls


def build_sandbox(settings: SandboxSettings) -> Sandbox:
    """The configured backend; refuses to run with less isolation than ``SANDBOX_MIN_ISOLATION``."""
    names = AUTO_ORDER if settings.backend == "auto" else (settings.backend,)
    reasons: list[str] = []
    for name in names:
        cls = BACKENDS.get(name)
        if cls is None:
            raise ConfigurationError(
                f"unknown SANDBOX_BACKEND {name!r}; known: auto, {', '.join(sorted(BACKENDS))}"
            )
        ok, why = cls.available()
        if ok:
            sandbox = cls(settings)
            level = sandbox.effective_isolation
            minimum = Isolation[settings.min_isolation.upper()]
            if level < minimum:
                raise ConfigurationError(
                    f"sandbox backend {name!r} gives isolation {level.name.lower()}, below "
                    f"SANDBOX_MIN_ISOLATION={settings.min_isolation}; refusing to run untrusted code"
                )
            metrics.SANDBOX_ISOLATION.labels(name, level.name.lower()).set(1)
            log.warning(
                "SANDBOX: untrusted code runs under backend=%s isolation=%s (minimum %s)%s",
                name, level.name.lower(), settings.min_isolation,
                "" if not reasons else "; stronger backends unavailable: " + "; ".join(reasons),
            )  # fmt: skip
            return sandbox
        reasons.append(f"{name}: {why}")
    raise ConfigurationError("no sandbox backend is available: " + "; ".join(reasons))
