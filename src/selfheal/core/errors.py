"""The project's exception tree.

SelfhealError
├── ConfigurationError        settings that cannot work; raised at start-up
├── NotFoundError             an entity that does not exist (-> 404)
├── ConflictError             a state change that is not allowed now (-> 409)
├── DownstreamUnavailable     the worker, evaluator or DB could not be reached (-> 503)
├── LLMError                  a provider call failed (see selfheal.llm.base)
└── SandboxError              the sandbox could not run a job at all
"""

from __future__ import annotations


class SelfhealError(Exception):
    """Base of every error this project raises on purpose."""


class ConfigurationError(SelfhealError):
    pass


class NotFoundError(SelfhealError):
    pass


class ConflictError(SelfhealError):
    pass


class DownstreamUnavailable(SelfhealError):
    def __init__(self, target: str, message: str) -> None:
        super().__init__(f"{target} unavailable: {message}")
        self.target = target


class LLMError(SelfhealError):
    pass


class SandboxError(SelfhealError):
    pass
