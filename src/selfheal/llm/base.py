"""The provider interface: one abstract method, capabilities as class attributes.

Errors a provider raises (all subclasses of ``LLMError``):

    LLMError
    ├── ProviderUnavailable   5xx, connection refused, network errors (retried)
    │   ├── RateLimited       429; carries Retry-After when the server sent it (retried)
    │   └── ProviderTimeout   the call exceeded its timeout (retried)
    ├── CircuitOpen           the breaker is open: failing fast without calling
    ├── ProviderRejected      4xx other than 429: bad key, bad request (not retried)
    └── StructuredOutputError the reply did not validate against the schema, even after repair
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar

from selfheal.core.errors import LLMError

if TYPE_CHECKING:
    from selfheal.core.config import LLMSettings


class Role(StrEnum):
    """What an LLM call is for; each role can have its own provider and model."""

    REFINER = "refiner"
    WORKER = "worker"
    JUDGE = "judge"
    TEST_WRITER = "test_writer"
    ANALYST = "analyst"
    OPTIMIZER = "optimizer"


@dataclass(frozen=True, slots=True)
class LLMRequest:
    role: Role
    system: str
    prompt: str
    json_schema: dict[str, Any] | None = None
    temperature: float = 0.0
    max_tokens: int = 2048


@dataclass(slots=True)
class LLMResponse:
    text: str
    provider: str
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    latency_ms: float = 0.0
    raw: dict[str, Any] = field(default_factory=dict)


# What an SDK that insists on a key gets when the endpoint needs none (Ollama, vLLM, ...).
KEYLESS_PLACEHOLDER = "not-needed"


class ProviderUnavailable(LLMError):
    pass


class RateLimited(ProviderUnavailable):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ProviderTimeout(ProviderUnavailable):
    pass


class CircuitOpen(LLMError):
    pass


class ProviderRejected(LLMError):
    pass


class StructuredOutputError(LLMError):
    pass


class Provider(ABC):
    """A model behind an API. Implementations translate SDK errors into the tree above."""

    name: ClassVar[str]
    needs_api_key: ClassVar[bool] = True

    def __init__(
        self, *, model: str, api_key: str | None, base_url: str | None, timeout_s: float
    ) -> None:
        self.model = model
        self._api_key = api_key
        self.base_url = base_url
        self.timeout_s = timeout_s

    @classmethod
    def from_settings(
        cls, settings: LLMSettings, *, model: str | None, api_key: str | None, base_url: str | None
    ) -> Provider:
        """Build from a role's resolved settings (a provider may fill in its own defaults)."""
        from selfheal.llm.registry import DEFAULT_MODELS

        return cls(
            model=model or DEFAULT_MODELS.get(cls.name, cls.name),
            api_key=api_key,
            base_url=base_url,
            timeout_s=settings.timeout_for(cls.name),
        )

    @abstractmethod
    async def generate(self, request: LLMRequest) -> LLMResponse:
        """Send one request and return the model's text reply."""

    async def status(self) -> dict[str, Any] | None:
        """Extra facts for /ready (``"ok": False`` makes the service not ready); None: none."""
        return None

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections (SDK clients)."""

    def __repr__(self) -> str:  # never shows the key
        return f"{type(self).__name__}(model={self.model!r}, base_url={self.base_url!r})"
