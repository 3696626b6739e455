"""Providers are registered by name and built per role from settings."""

from __future__ import annotations

import importlib

from selfheal.core.config import LLMSettings, RoleLLMSettings
from selfheal.core.errors import ConfigurationError
from selfheal.llm.base import Provider, Role

_REGISTRY: dict[str, type[Provider]] = {}
_BUILTIN_MODULES = {
    "offline": "selfheal.llm.providers.offline",
    "openai": "selfheal.llm.providers.openai",
    "anthropic": "selfheal.llm.providers.anthropic",
    "gemini": "selfheal.llm.providers.gemini",
    "local": "selfheal.llm.providers.local.provider",
}
_EXTRAS = {"local": "local"}  # the pip extra a provider's SDK comes with; default "providers"
DEFAULT_MODELS = {
    "offline": "offline-sim-1",
    "openai": "gpt-4o-mini",
    "anthropic": "claude-3-5-haiku-latest",
    "gemini": "gemini-2.0-flash",
    "local": "qwen2.5-coder-1.5b",
}


class UnknownProviderError(ConfigurationError):
    pass


def register_provider(cls: type[Provider]) -> type[Provider]:
    """Class decorator: make a provider available under ``cls.name``."""
    _REGISTRY[cls.name] = cls
    return cls


def get_provider_class(name: str) -> type[Provider]:
    if name not in _REGISTRY and name in _BUILTIN_MODULES:
        try:
            importlib.import_module(_BUILTIN_MODULES[name])
        except ImportError as exc:
            extra = _EXTRAS.get(name, "providers")
            raise ConfigurationError(
                f"LLM provider {name!r} needs its SDK: pip install 'selfheal[{extra}]' ({exc})"
            ) from exc
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(set(_REGISTRY) | set(_BUILTIN_MODULES)))
        raise UnknownProviderError(f"unknown LLM provider {name!r}; known: {known}") from None


def role_settings(
    settings: LLMSettings, role: Role
) -> tuple[str, str | None, str | None, str | None]:
    """(provider, model, api_key, base_url) for a role: ``LLM_<ROLE>_*`` overrides ``LLM_*``.

    A role that switches to another provider inherits neither the default's key nor its
    base URL (an OpenAI key is no Anthropic key, an Ollama URL no Gemini endpoint), nor
    its model; it takes them from its own ``LLM_<ROLE>_*`` variables or the provider's
    defaults.
    """
    own = settings.roles.get(role.value) or RoleLLMSettings()
    default = settings.effective_provider
    provider = (own.provider or default).lower()
    inherit = provider == default
    model = own.model or (settings.model if inherit else None)
    api_key = own.api_key or (settings.api_key if inherit else None)
    base_url = own.base_url or (settings.base_url if inherit else None)
    return provider, model, api_key, base_url


def build_provider(settings: LLMSettings, role: Role) -> Provider:
    """Instantiate the provider configured for ``role``; fail fast on a misconfiguration."""
    name, model, api_key, base_url = role_settings(settings, role)
    cls = get_provider_class(name)
    if cls.needs_api_key and not api_key and not base_url:
        prefix = f"LLM_{role.value.upper()}_"
        raise ConfigurationError(
            f"LLM provider {name!r} (role {role.value}) needs an API key ({prefix}API_KEY or "
            f"LLM_API_KEY), or a base URL ({prefix}BASE_URL or LLM_BASE_URL) for a keyless "
            "local server"
        )
    return cls.from_settings(settings, model=model, api_key=api_key, base_url=base_url)
