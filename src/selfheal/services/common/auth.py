"""Optional auth with roles, every part off unless its setting is set.

- ``SELFHEAL_API_KEY`` (client): every /api route of the manager needs it or the admin key
  (``Authorization: Bearer <key>`` or ``X-API-Key: <key>``).
- ``SELFHEAL_ADMIN_API_KEY`` (admin): prompt changes and optimizer runs need it; the client key
  gets 403 there. Without an admin key the client key may do everything (as before roles).
- ``SELFHEAL_INTERNAL_TOKEN`` (between services): the worker and evaluator accept only it
  (``X-Internal-Token``), which the manager and the optimizer send; without it they accept the
  client key as the manager does.

Health, readiness and metrics stay open for probes and scrapers. Keys are compared in constant
time and never logged.
"""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Request

from selfheal.core.config import ServiceSettings
from selfheal.services.common.deps import RuntimeDep

INTERNAL_HEADER = "x-internal-token"
_INTERNAL_SERVICES = ("worker", "evaluator")


def presented_key(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.headers.get("x-api-key")


def key_matches(given: str | None, expected: str | None) -> bool:
    """Constant-time comparison; False when either side is missing."""
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def client_keys(settings: ServiceSettings) -> list[str]:
    """Keys that may send requests and read results (empty: auth is off)."""
    return [k for k in (settings.api_key, settings.admin_api_key) if k]


def _needs_key(what: str) -> HTTPException:
    return HTTPException(
        status_code=401,
        detail=f"This API needs {what}: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'.",
        headers={"WWW-Authenticate": "Bearer"},
    )


async def require_api_key(request: Request, runtime: RuntimeDep) -> None:
    settings = runtime.settings.service
    if runtime.service in _INTERNAL_SERVICES and settings.internal_token:
        token = request.headers.get(INTERNAL_HEADER)
        if not token:
            raise HTTPException(
                status_code=401,
                detail=f"This service is internal: only the manager and the optimizer may call "
                f"it, with the '{INTERNAL_HEADER}' header (SELFHEAL_INTERNAL_TOKEN).",
            )
        if not key_matches(token, settings.internal_token):
            raise HTTPException(status_code=403, detail="The internal token is not valid.")
        return
    keys = client_keys(settings)
    if not keys:
        return
    given = presented_key(request)
    if not given:
        raise _needs_key("a key")
    if not any(key_matches(given, k) for k in keys):
        raise HTTPException(status_code=403, detail="The API key is not valid.")


async def require_admin_key(request: Request, runtime: RuntimeDep) -> None:
    """Prompt changes and optimizer runs: the admin key when one is set."""
    admin = runtime.settings.service.admin_api_key
    if not admin:
        return  # require_api_key (on every router) already decided
    given = presented_key(request)
    if not given:
        raise _needs_key("the admin key")
    if not key_matches(given, admin):
        raise HTTPException(
            status_code=403,
            detail="Changing prompts or running the optimizer needs the admin key "
            "(SELFHEAL_ADMIN_API_KEY); this key may only send requests and read results.",
        )


def client_headers(api_key: str | None) -> dict[str, str]:
    """Headers a client of the public API sends when a key is configured."""
    return {"x-api-key": api_key} if api_key else {}
