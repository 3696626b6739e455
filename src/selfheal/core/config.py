"""One settings object, read from the environment (the seed's variable names kept).

Sections are separate ``BaseSettings`` classes so each keeps its own env prefix:
``LLM_*``, ``OPTIMIZER_*``, ``EVALUATOR_*``, ``SANDBOX_*``; the database URL is the
seed's ``DATABASE_URL``.
"""

from __future__ import annotations

import json
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

_COMMON = {"env_file": None, "extra": "ignore", "case_sensitive": False}
_PLACEHOLDER = re.compile(
    r"^(change[-_ ]?me|replace[-_ ]?me|your[-_ ]?(api[-_ ]?)?key([-_ ]?here)?|<.*>|x{3,}|\.\.\.|todo|secret)$",
    re.IGNORECASE,
)


def refuse_placeholder(value: str | None, name: str) -> str | None:
    """A secret that is obviously a template placeholder fails start-up with a sentence."""
    if value is not None and _PLACEHOLDER.match(value.strip()):
        raise ValueError(
            f"{name} looks like a placeholder ({value!r}); set the real value or leave it unset"
        )
    return value


class DatabaseSettings(BaseSettings):
    model_config = SettingsConfigDict(**_COMMON)  # type: ignore[typeddict-item]

    url: str | None = Field(default=None, validation_alias=AliasChoices("DATABASE_URL"))
    data_dir: Path = Field(
        default=Path(".selfheal"), validation_alias=AliasChoices("SELFHEAL_DATA_DIR")
    )
    pool_size: int = Field(default=10, validation_alias=AliasChoices("DATABASE_POOL_SIZE"))
    # Where the manager keeps log rows while the database is away (default: DATA_DIR/spool),
    # and how often it tries to write them.
    spool_dir: Path | None = Field(default=None, validation_alias="SELFHEAL_LOG_SPOOL_DIR")
    spool_interval_s: float = Field(
        default=2.0, gt=0, le=3600, validation_alias="SELFHEAL_LOG_SPOOL_INTERVAL_S"
    )

    @property
    def resolved_spool_dir(self) -> Path:
        return self.spool_dir or self.data_dir / "spool"

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


# What each LLM call is for (``selfheal.llm.base.Role``); each may override the default.
LLM_ROLES = ("refiner", "worker", "judge", "test_writer", "analyst", "optimizer")


class RoleLLMSettings(BaseSettings):
    """One role's overrides, ``LLM_<ROLE>_PROVIDER`` / ``_MODEL`` / ``_API_KEY`` /
    ``_BASE_URL`` (built with that prefix by ``LLMSettings``)."""

    model_config = SettingsConfigDict(**_COMMON)  # type: ignore[typeddict-item]

    provider: str | None = None
    model: str | None = None
    api_key: str | None = Field(default=None, repr=False)
    base_url: str | None = None

    @field_validator("api_key")
    @classmethod
    def _real_key(cls, value: str | None) -> str | None:
        return refuse_placeholder(value, "a per-role LLM_<ROLE>_API_KEY")


def _role_overrides() -> dict[str, RoleLLMSettings]:
    return {role: RoleLLMSettings(_env_prefix=f"LLM_{role.upper()}_") for role in LLM_ROLES}


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
    # LLM_PROVIDER=local: the model server selfheal runs on this machine (LLM_LOCAL_*).
    local_host: str = "127.0.0.1"
    local_port: int = Field(default=8090, ge=1, le=65535)
    local_parallel: int = Field(default=2, ge=1)  # requests served at once (llama.cpp slots)
    local_n_ctx: int = Field(default=8192, ge=512)  # tokens, shared evenly by the slots
    local_threads: int = Field(default=0, ge=0)  # 0: every core
    local_timeout_s: float = Field(default=600.0, gt=0)  # per call, instead of LLM_TIMEOUT_S
    local_start_timeout_s: float = Field(default=300.0, gt=0)  # loading the model
    local_models_dir: Path | None = None  # default: $XDG_DATA_HOME/selfheal/models
    # LLM_<ROLE>_* for each role, read from the environment with the rest.
    roles: dict[str, RoleLLMSettings] = Field(default_factory=_role_overrides)

    @field_validator("api_key")
    @classmethod
    def _real_key(cls, value: str | None) -> str | None:
        return refuse_placeholder(value, "LLM_API_KEY")

    @model_validator(mode="after")
    def _slots_fit(self) -> LLMSettings:
        if self.local_n_ctx // self.local_parallel < 512:
            raise ValueError(
                f"LLM_LOCAL_N_CTX={self.local_n_ctx} leaves each of the {self.local_parallel} "
                "slots (LLM_LOCAL_PARALLEL) fewer than 512 tokens"
            )
        return self

    @property
    def models_dir(self) -> Path:
        """Where local models are assembled once and shared by every data directory."""
        if self.local_models_dir is not None:
            return self.local_models_dir.expanduser()
        base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
        return Path(base) / "selfheal" / "models"

    @property
    def local_url(self) -> str:
        return f"http://{self.local_host}:{self.local_port}"

    def timeout_for(self, provider: str) -> float:
        """A call's budget: CPU models need minutes where hosted APIs need seconds."""
        return self.local_timeout_s if provider == "local" else self.timeout_s

    @property
    def effective_provider(self) -> str:
        """``LLM_PROVIDER`` if set; else a hosted provider when a key or URL exists; else the
        local model when ``selfheal[local]`` and its weights are installed; else offline."""
        if self.provider:
            return self.provider.lower()
        if self.api_key:
            return "gemini"
        if self.base_url:
            return "openai"
        if self.local_problem() is None:
            return "local"
        return "offline"

    def local_problem(self) -> str | None:
        """Why the local model is not the default here (None: it is ready to be)."""
        from selfheal.llm.providers.local.models import default_problem

        return default_problem(self.model, self.models_dir)


DANGEROUS_IMPORTS = (
    "subprocess",
    "socket",
    "ctypes",
    "multiprocessing",
    "shutil",
    "pty",
    "signal",
    "requests",
    "urllib",
    "http",
    "ftplib",
    "telnetlib",
    "pickle",
    "marshal",
    "gc",
    "inspect",
    "importlib",
    "builtins",
)
DANGEROUS_CALLS = (
    "eval",
    "exec",
    "compile",
    "__import__",
    "globals",
    "breakpoint",
    "os.system",
    "os.popen",
    "os.fork",
    "os.forkpty",
    "os.kill",
    "os.killpg",
    "os.remove",
    "os.unlink",
    "os.rmdir",
    "os.execv",
    "os.execve",
    "os.execvp",
    "os.posix_spawn",
    "os.setsid",
    "os.chmod",
    "os.chown",
    "os.write",
    "os.fdopen",
    "os.dup2",
    "os.open",
    "shutil.rmtree",
    "sys.exit",
    "os._exit",
    "sys._getframe",
    "sys.settrace",
    "sys.setprofile",
)
_OVERRIDABLE = {"rule_weight", "judge_weight", "pass_threshold", "gate_cap"}


def _check_scoring(rule: float, judge: float, threshold: float, cap: float, where: str) -> None:
    if abs(rule + judge - 1.0) > 1e-6:
        raise ValueError(
            f"{where}: the rule weight and the judge weight must add up to 1.0 (got {rule} + {judge})"
        )
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"{where}: the pass threshold must be in (0, 1], not {threshold}")
    if cap >= threshold:
        raise ValueError(
            f"{where}: the gate cap ({cap}) must be below the pass threshold ({threshold})"
        )


def _name_list(value: object) -> object:
    """``a,b,c`` or a JSON list."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


class EvaluatorSettings(BaseSettings):
    """Scoring (``EVALUATOR_*``), with per-task-type overrides in ``EVALUATOR_TASK_OVERRIDES``,
    e.g. ``{"sql": {"pass_threshold": 0.8, "rule_weight": 0.5, "judge_weight": 0.5}}``."""

    model_config = SettingsConfigDict(env_prefix="EVALUATOR_", **_COMMON)  # type: ignore[typeddict-item]

    rule_weight: float = 0.4
    judge_weight: float = 0.6
    pass_threshold: float = 0.7
    gate_cap: float = 0.4
    generate_tests: bool = True
    task_overrides: dict[str, dict[str, float]] = Field(default_factory=dict)
    dangerous_imports: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(DANGEROUS_IMPORTS)
    )
    dangerous_calls: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(DANGEROUS_CALLS)
    )

    @field_validator("dangerous_imports", "dangerous_calls", mode="before")
    @classmethod
    def _names(cls, value: object) -> object:
        return _name_list(value)

    @model_validator(mode="after")
    def _weights_sum_to_one(self) -> EvaluatorSettings:
        _check_scoring(
            self.rule_weight, self.judge_weight, self.pass_threshold, self.gate_cap, "EVALUATOR_*"
        )
        for task_type, override in self.task_overrides.items():
            unknown = set(override) - _OVERRIDABLE
            if unknown:
                raise ValueError(
                    f"EVALUATOR_TASK_OVERRIDES[{task_type!r}]: unknown setting(s) "
                    f"{sorted(unknown)}; allowed: {sorted(_OVERRIDABLE)}"
                )
            merged = self.for_task(task_type)
            _check_scoring(
                merged.rule_weight,
                merged.judge_weight,
                merged.pass_threshold,
                merged.gate_cap,
                f"EVALUATOR_TASK_OVERRIDES[{task_type!r}]",
            )
        return self

    def for_task(self, task_type: str) -> EvaluatorSettings:
        """These settings with the task type's overrides applied."""
        override = self.task_overrides.get(task_type)
        if not override:
            return self
        return self.model_copy(update=override)


class SandboxSettings(BaseSettings):
    """Limits and isolation for untrusted code (``SANDBOX_*``)."""

    model_config = SettingsConfigDict(env_prefix="SANDBOX_", **_COMMON)  # type: ignore[typeddict-item]

    backend: str = "auto"  # auto | zygote | bwrap | process
    timeout_s: float = 5.0  # each test's budget (and the code's load)
    job_timeout_s: float = 30.0  # the whole job, all tests together
    memory_mb: int = 512
    max_processes: int = 64
    max_file_mb: int = 16
    max_open_files: int = 64
    max_output_bytes: int = 64 * 1024  # kept per stream; the rest is dropped
    output_kill_bytes: int = 4 * 1024 * 1024  # a job writing more than this is killed
    tmp_mb: int = 64  # size of a job's private /tmp (its working directory)
    python: str = "/usr/bin/python3"
    # Below this the evaluator runs no code at all (503, /ready not ready); `process` is the
    # operator's explicit opt-in to weak isolation.
    min_isolation: Literal["process", "namespaces", "bwrap"] = "bwrap"
    bwrap: str = "bwrap"  # bubblewrap: a path, or a name looked up on PATH
    # One memory + process budget per job (memory_mb, max_processes) from a cgroup: auto (when
    # the machine allows), required (refuse to start without), off (per-process rlimits only).
    cgroup: Literal["auto", "required", "off"] = "auto"
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
    metrics_port: int | None = Field(default=9101, ge=0, le=65535)  # `selfheal watch`; 0 = off
    debounce_s: float = 1.0
    max_examples: int = 5
    strategy: Literal["reflection", "gepa"] = "reflection"
    gepa_max_metric_calls: int = 120
    candidates: int = 3
    refine_rounds: int = 4
    replay_failing_sample: int = 8
    replay_passing_sample: int = 5
    golden_dir: Path | None = None
    min_improvement: float = 0.05
    regression_tolerance: float = 0.0
    rollout: Literal["direct", "canary"] = "direct"
    # admin: a proven winner is stored as a candidate and goes live only when an admin approves
    # it (POST /api/v1/optimizations/{run_id}/approve); no new run for that task type meanwhile.
    approval: Literal["auto", "admin"] = "auto"
    canary_share: float = 0.2
    canary_min_requests: int = 5
    rollback_margin: float = 0.2
    rollback_window: int = 10
    # Sized for real models that take seconds to a minute per call on a single-slot server:
    # replays go one at a time; one item's worker + evaluator calls get replay_timeout_s,
    # after which that item counts as failed (the run goes on); no new candidate is
    # replayed once the run has spent run_budget_s.
    replay_concurrency: int = Field(default=1, ge=1)
    replay_timeout_s: float = Field(default=300.0, gt=0)
    run_budget_s: float = Field(default=3600.0, gt=0)
    # Every analyst / optimizer request fits this context (prompt + reply), examples clipped
    # or dropped until it does; replies are capped at llm_max_tokens.
    context_tokens: int = Field(default=4096, ge=1024)
    llm_max_tokens: int = Field(default=700, ge=64)
    # A candidate longer than this (characters) is rejected without replay.
    max_prompt_chars: int = Field(default=2000, ge=100)
    # Earlier versions that did well live are replayed as candidates too.
    history_candidates: int = Field(default=2, ge=0)
    history_min_requests: int = Field(default=3, ge=1)
    history_min_pass_rate: float = Field(default=0.5, ge=0, le=1)
    # After a failed run (the provider gone, say) the watcher waits before trying that task
    # type again: failure_backoff_s, doubled after each further failure up to
    # failure_backoff_max_s; a run that finishes resets it. 0 = retry at once.
    failure_backoff_s: float = Field(default=30.0, ge=0)
    failure_backoff_max_s: float = Field(default=1800.0, ge=0)

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
    # Admission (services/common/admission.py): /api requests served at once per service
    # (one more is shed with 503 + Retry-After); the manager's per-key rate limit, `limits`
    # syntax ("20/second;600/minute"), off unless set, counted in the storage URI given.
    max_in_flight: int = Field(default=64, ge=1, validation_alias="SERVICE_MAX_IN_FLIGHT")
    rate_limit: str | None = Field(default=None, validation_alias="SELFHEAL_RATE_LIMIT")
    rate_limit_storage: str = Field(
        default="memory://", validation_alias="SELFHEAL_RATE_LIMIT_STORAGE"
    )
    # On SIGTERM a service stops accepting and lets in-flight requests finish for this long.
    drain_s: int = Field(default=30, ge=0, validation_alias="SERVICE_DRAIN_S")
    # The manager's refine call (request -> specification): "auto" skips it when the request
    # brings tests (they specify the behaviour; one model call saved), "always", "off".
    refine: Literal["auto", "always", "off"] = Field(
        default="auto", validation_alias="SELFHEAL_REFINE"
    )
    # Roles (all off unless set): the client key sends requests and reads results; the admin
    # key may also change prompts and run the optimizer (without one, the client key may);
    # the internal token is what the worker and evaluator accept (from the manager and the
    # optimizer) instead of the client key.
    api_key: str | None = Field(default=None, validation_alias="SELFHEAL_API_KEY", repr=False)
    admin_api_key: str | None = Field(
        default=None, validation_alias="SELFHEAL_ADMIN_API_KEY", repr=False
    )
    internal_token: str | None = Field(
        default=None, validation_alias="SELFHEAL_INTERNAL_TOKEN", repr=False
    )

    @field_validator("api_key")
    @classmethod
    def _real_key(cls, value: str | None) -> str | None:
        return refuse_placeholder(value or None, "SELFHEAL_API_KEY")

    @field_validator("admin_api_key")
    @classmethod
    def _real_admin_key(cls, value: str | None) -> str | None:
        return refuse_placeholder(value or None, "SELFHEAL_ADMIN_API_KEY")

    @field_validator("internal_token")
    @classmethod
    def _real_token(cls, value: str | None) -> str | None:
        return refuse_placeholder(value or None, "SELFHEAL_INTERNAL_TOKEN")

    @model_validator(mode="after")
    def _distinct_keys(self) -> ServiceSettings:
        if self.admin_api_key and self.admin_api_key == self.api_key:
            raise ValueError(
                "SELFHEAL_ADMIN_API_KEY must differ from SELFHEAL_API_KEY, or the client key "
                "could change prompts"
            )
        return self

    @field_validator("rate_limit")
    @classmethod
    def _rate_limit(cls, value: str | None) -> str | None:
        if value is None or not value.strip() or value.strip().lower() == "off":
            return None
        from limits import parse_many

        try:
            parse_many(value)
        except ValueError:
            raise ValueError(
                f"SELFHEAL_RATE_LIMIT={value!r} is not a rate limit; write it like "
                "'20/second' or '20/second;600/minute'"
            ) from None
        return value.strip()

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

    def with_changes(self, **sections: dict[str, Any]) -> Settings:
        """These settings with some fields of some sections changed (``db={"url": ...}``),
        checked again as one object; no environment variable is touched."""
        parts = {name: getattr(self, name) for name in type(self).model_fields}
        for name, fields in sections.items():
            parts[name] = parts[name].model_copy(update=fields)
        return Settings(**parts)

    @model_validator(mode="after")
    def _calls_wait_for_a_local_model(self) -> Settings:
        """A CPU model takes minutes where an API takes seconds: unless SERVICE_TIMEOUT_S is
        set, a call to the worker or evaluator may last as long as two local LLM calls."""
        if (
            "request_timeout_s" not in self.service.model_fields_set
            and self.llm.effective_provider == "local"
        ):
            floor = 2 * self.llm.local_timeout_s + 60
            self.service.request_timeout_s = max(self.service.request_timeout_s, floor)
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, validated once."""
    return Settings()
