"""Prometheus metrics, one definition each, shared by every service process."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter(
    "selfheal_http_requests_total", "HTTP requests served", ["service", "route", "method", "status"]
)
HTTP_LATENCY = Histogram(
    "selfheal_http_request_duration_seconds",
    "HTTP request latency",
    ["service", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
EVALUATIONS = Counter(
    "selfheal_evaluations_total", "Evaluations by outcome", ["task_type", "passed", "category"]
)
EVALUATION_SCORE = Histogram(
    "selfheal_evaluation_score",
    "Evaluation scores",
    ["task_type"],
    buckets=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0),
)
ACTIVE_PROMPT_VERSION = Gauge(
    "selfheal_active_prompt_version",
    "Prompt version served to live traffic",
    ["task_type", "status"],
)
OPTIMIZER_RUNS = Counter(
    "selfheal_optimizer_runs_total",
    "Optimizer runs by decision",
    ["task_type", "trigger", "decision"],
)
ROLLBACKS = Counter("selfheal_prompt_rollbacks_total", "Prompt rollbacks", ["task_type", "reason"])
LLM_CALLS = Counter(
    "selfheal_llm_calls_total", "LLM calls", ["provider", "model", "role", "outcome"]
)
LLM_TOKENS = Counter(
    "selfheal_llm_tokens_total", "LLM tokens", ["provider", "model", "role", "direction"]
)
LLM_CALLS_SAVED = Counter(
    "selfheal_llm_calls_saved_total",
    "LLM calls not made because the verdict was already decided (e.g. failing tests)",
    ["role", "reason"],
)
LLM_LATENCY = Histogram(
    "selfheal_llm_call_duration_seconds",
    "LLM call latency",
    ["provider", "model", "role"],
    buckets=(0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
LLM_BREAKER_OPEN = Gauge(
    "selfheal_llm_circuit_open",
    "1 while the provider's circuit breaker is open",
    ["provider", "model"],
)
SANDBOX_EXECUTIONS = Counter(
    "selfheal_sandbox_executions_total", "Sandboxed executions", ["backend", "outcome"]
)
SANDBOX_LATENCY = Histogram(
    "selfheal_sandbox_execution_seconds",
    "Sandboxed execution wall time",
    ["backend"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
SANDBOX_ISOLATION = Gauge(
    "selfheal_sandbox_isolation_level",
    "Isolation in use (1 on the active level's label)",
    ["backend", "level"],
)
DOWNSTREAM_ERRORS = Counter(
    "selfheal_downstream_errors_total", "Calls to another service that failed", ["target"]
)
REQUESTS_SHED = Counter(
    "selfheal_requests_shed_total",
    "API requests refused before any work: rate_limited (429) or overloaded (503)",
    ["service", "reason"],
)
LOG_ROWS_SPOOLED = Counter(
    "selfheal_log_rows_spooled_total",
    "Execution-log rows kept on local disk because the database could not take them",
)
LOG_ROWS_REPLAYED = Counter(
    "selfheal_log_rows_replayed_total",
    "Spooled execution-log rows written once the database was back",
)
