"""One settings object, read from the environment (the seed's variable names kept).

Sections are separate ``BaseSettings`` classes so each keeps its own env prefix:
``LLM_*``, ``OPTIMIZER_*``, ``EVALUATOR_*``, ``SANDBOX_*``; the database URL is the
seed's ``DATABASE_URL``.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_COMMON = {"env_file": None, "extra": "ignore", "case_sensitive": False}


class DatabaseSettings(BaseSettings):
    model_config = SettingsConfigDict(**_COMMON)  # type: ignore[typeddict-item]

    url: str | None = Field(default=None, validation_alias=AliasChoices("DATABASE_URL"))
    data_dir: Path = Field(
        default=Path(".selfheal"), validation_alias=AliasChoices("SELFHEAL_DATA_DIR")
    )
    pool_size: int = Field(default=10, validation_alias=AliasChoices("DATABASE_POOL_SIZE"))

    @property
    def resolved_url(self) -> str:
        """The URL in use: ``DATABASE_URL`` or a SQLite file in the data directory."""
        if self.url:
            return normalize_database_url(self.url)
        return f"sqlite+aiosqlite:///{(self.data_dir / 'selfheal.db').resolve()}"


def normalize_database_url(url: str) -> str:
    """Accept the usual spellings and return the async-driver form SQLAlchemy needs."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
    return url


class LLMSettings(BaseSettings):
    """The default provider; each role may override it with ``LLM_<ROLE>_PROVIDER`` etc."""

    model_config = SettingsConfigDict(env_prefix="LLM_", **_COMMON)  # type: ignore[typeddict-item]

    provider: str | None = None
    api_key: str | None = Field(default=None, repr=False)
    model: str | None = None
    base_url: str | None = None
    timeout_s: float = 60.0
    max_retries: int = 3
    retry_max_wait_s: float = 30.0
    breaker_failures: int = 5
    breaker_reset_s: float = 30.0

    @property
    def effective_provider(self) -> str:
        """``LLM_PROVIDER`` if set, else a real provider only when a key or local URL exists."""
        if self.provider:
            return self.provider.lower()
        if self.api_key:
            return "gemini"
        if self.base_url:
            return "openai"
        return "offline"


class EvaluatorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EVALUATOR_", **_COMMON)  # type: ignore[typeddict-item]

    rule_weight: float = 0.4
    judge_weight: float = 0.6
    pass_threshold: float = 0.7
    gate_cap: float = 0.4
    generate_tests: bool = True

    @model_validator(mode="after")
    def _weights_sum_to_one(self) -> EvaluatorSettings:
        if abs(self.rule_weight + self.judge_weight - 1.0) > 1e-6:
            raise ValueError(
                "EVALUATOR_RULE_WEIGHT and EVALUATOR_JUDGE_WEIGHT must add up to 1.0 "
                f"(got {self.rule_weight} + {self.judge_weight})"
            )
        if not 0.0 < self.pass_threshold <= 1.0:
            raise ValueError("EVALUATOR_PASS_THRESHOLD must be in (0, 1]")
        return self


class SandboxSettings(BaseSettings):
    """Limits and isolation for untrusted code (``SANDBOX_*``)."""

    model_config = SettingsConfigDict(env_prefix="SANDBOX_", **_COMMON)  # type: ignore[typeddict-item]

    backend: str = "auto"  # auto | zygote | bwrap | process
    timeout_s: float = 5.0
    cpu_s: int = 5
    memory_mb: int = 512
    max_processes: int = 64
    max_file_mb: int = 16
    max_open_files: int = 64
    max_output_bytes: int = 64 * 1024  # kept per stream; the rest is dropped
    output_kill_bytes: int = 4 * 1024 * 1024  # a job writing more than this is killed
    tmp_mb: int = 64  # size of a job's private /tmp (its working directory)
    python: str = "/usr/bin/python3"
    min_isolation: Literal["process", "namespaces", "bwrap"] = "process"
    pool_size: int = Field(default=0, ge=0)  # warm zygotes; 0 = one per CPU core
    uid: int = Field(default=65534, ge=1)  # when the service runs as root, jobs run as this
    gid: int = Field(default=65534, ge=1)

    @property
    def effective_pool_size(self) -> int:
        return self.pool_size or (os.cpu_count() or 1)


class OptimizerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OPTIMIZER_", **_COMMON)  # type: ignore[typeddict-item]

    failure_threshold: int = 3
    lookback_minutes: int = 30
    watch_interval_s: float = 1.0
    debounce_s: float = 1.0
    max_examples: int = 5
    strategy: Literal["reflection", "gepa"] = "reflection"
    gepa_max_metric_calls: int = 120
    candidates: int = 3
    refine_rounds: int = 4
    replay_passing_sample: int = 5
    min_improvement: float = 0.05
    regression_tolerance: float = 0.0
    rollout: Literal["direct", "canary"] = "direct"
    canary_share: float = 0.2
    canary_min_requests: int = 5
    rollback_margin: float = 0.2
    rollback_window: int = 10

    @field_validator("failure_threshold")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value < 1:
            raise ValueError("OPTIMIZER_FAILURE_THRESHOLD must be at least 1")
        return value


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(**_COMMON)  # type: ignore[typeddict-item]

    worker_url: str = Field(default="http://127.0.0.1:8001", validation_alias="WORKER_URL")
    evaluator_url: str = Field(default="http://127.0.0.1:8002", validation_alias="EVALUATOR_URL")
    manager_url: str = Field(default="http://127.0.0.1:8000", validation_alias="MANAGER_URL")
    request_timeout_s: float = Field(default=120.0, validation_alias="SERVICE_TIMEOUT_S")
    max_body_bytes: int = Field(default=1_000_000, validation_alias="MAX_BODY_BYTES")
    max_input_chars: int = Field(default=20_000, validation_alias="MAX_INPUT_CHARS")
    log_level: str = Field(default="INFO", validation_alias="LOG_LEVEL")
    api_key: str | None = Field(default=None, validation_alias="SELFHEAL_API_KEY", repr=False)

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        value = value.upper()
        if value not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError(
                f"LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, not {value!r}"
            )
        return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(**_COMMON)  # type: ignore[typeddict-item]

    db: DatabaseSettings = Field(default_factory=DatabaseSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    evaluator: EvaluatorSettings = Field(default_factory=EvaluatorSettings)
    sandbox: SandboxSettings = Field(default_factory=SandboxSettings)
    optimizer: OptimizerSettings = Field(default_factory=OptimizerSettings)
    service: ServiceSettings = Field(default_factory=ServiceSettings)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, validated once."""
    return Settings()
