"""The base of the providers whose official SDKs share one shape (``openai``, ``anthropic``):
a client built from key, URL and timeout with the SDK's own retries off, one exception family
mapped in one place, ``close()`` on shutdown."""

from __future__ import annotations

from contextlib import AbstractContextManager
from types import ModuleType
from typing import Any, ClassVar, Generic, TypeVar

from selfheal.llm.base import KEYLESS_PLACEHOLDER, Provider
from selfheal.llm.providers._errors import mapped_sdk_errors

C = TypeVar("C")


class SDKProvider(Provider, Generic[C]):
    sdk: ClassVar[ModuleType]  # where the exception family lives
    client_class: ClassVar[type[Any]]

    def __init__(
        self, *, model: str, api_key: str | None, base_url: str | None, timeout_s: float
    ) -> None:
        super().__init__(model=model, api_key=api_key, base_url=base_url, timeout_s=timeout_s)
        # max_retries=0: LLMClient owns retries, backoff and the circuit breaker. Servers that
        # need no key still get one from the SDK: a placeholder goes out.
        self._client: C = self.client_class(
            api_key=api_key or KEYLESS_PLACEHOLDER,
            base_url=base_url,
            timeout=timeout_s,
            max_retries=0,
        )

    def sdk_errors(self) -> AbstractContextManager[None]:
        """Inside: any SDK failure leaves as an error of our tree (``selfheal.llm.base``)."""
        where = getattr(self._client, "base_url", self.base_url)
        return mapped_sdk_errors(
            self.name, self.sdk, timeout_s=self.timeout_s, where=where, secret=self._api_key
        )

    async def aclose(self) -> None:
        await getattr(self._client, "close")()  # noqa: B009 - C is any SDK client
