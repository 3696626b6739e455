"""What an optimization run needs, typed: the database, the analyst and optimizer models,
the replayer that runs candidates through the worker and evaluator, the settings."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from selfheal.core.config import OptimizerSettings
from selfheal.llm.client import LLMClient
from selfheal.services.optimizer.replay import Replayer


@dataclass
class OptimizerDeps:
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    analyst: LLMClient
    optimizer: LLMClient
    replayer: Replayer
    settings: OptimizerSettings
