"""What the manager holds for its lifetime besides the shared runtime."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

from selfheal.services.common.clients import EvaluatorClient, WorkerClient
from selfheal.services.manager.log_spool import LogSpool
from selfheal.services.optimizer.deps import OptimizerDeps


@dataclass
class ManagerState:
    worker: WorkerClient
    evaluator: EvaluatorClient
    optimizer: OptimizerDeps
    log_spool: LogSpool
    spool_replay: asyncio.Task[None]  # writes spooled log rows once the database is back

    def readiness(self) -> dict[str, Any]:
        return {}

    async def aclose(self) -> None:
        self.spool_replay.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.spool_replay
        await self.worker.aclose()
        await self.evaluator.aclose()
