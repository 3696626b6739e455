"""What the evaluator holds for its lifetime besides the shared runtime: its sandbox."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from selfheal.sandbox.base import Sandbox


@dataclass
class EvaluatorState:
    sandbox: Sandbox

    def readiness(self) -> dict[str, Any]:
        # A live view: the backend updates its own status (e.g. zygotes alive) in place.
        return {"sandbox": self.sandbox.status}

    async def aclose(self) -> None:
        await self.sandbox.aclose()
