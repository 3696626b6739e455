"""The ``local`` provider: the openai provider's code path, pointed at the local model server.

The server is llama.cpp's (``server.py``), which speaks OpenAI's chat-completions protocol,
so everything — request body, structured output, error translation — is the ``openai``
provider's. What differs is where it points (``LLM_LOCAL_HOST``/``LLM_LOCAL_PORT`` unless
``LLM_BASE_URL`` is set), that it needs no key, its timeout (``LLM_LOCAL_TIMEOUT_S``), and
that it can tell ``/ready`` whether the model server is up.
"""

from __future__ import annotations

from typing import Any, ClassVar

import httpx

from selfheal.core.config import LLMSettings
from selfheal.llm.base import Provider
from selfheal.llm.providers.local.models import DEFAULT_MODEL, is_path
from selfheal.llm.providers.openai import OpenAIProvider
from selfheal.llm.registry import register_provider


def model_label(model: str) -> str:
    """What the server is told the model is called: a registry name, or a file's stem."""
    if is_path(model):
        name = model.rstrip("/").rsplit("/", 1)[-1]
        return name.removesuffix(".gguf")
    return model


@register_provider
class LocalProvider(OpenAIProvider):
    name: ClassVar[str] = "local"
    needs_api_key: ClassVar[bool] = False

    @classmethod
    def from_settings(
        cls, settings: LLMSettings, *, model: str | None, api_key: str | None, base_url: str | None
    ) -> Provider:
        return cls(
            model=model_label(model or DEFAULT_MODEL),
            api_key=api_key,
            base_url=base_url or settings.local_url + "/v1",
            timeout_s=settings.timeout_for(cls.name),
        )

    async def status(self) -> dict[str, Any]:
        """The model server's state for /ready: ``ready``, ``loading`` or ``down``."""
        root = str(self.base_url or "").rstrip("/").removesuffix("/v1")
        try:
            async with httpx.AsyncClient(timeout=2.0) as http:
                response = await http.get(root + "/health")
            state = "ready" if response.status_code == 200 else "loading"
        except httpx.HTTPError:
            state = "down"
        return {"model_server": state, "model_server_url": root, "ok": state == "ready"}
