"""Optional API-key auth: when ``SELFHEAL_API_KEY`` is set, every /api route of every
service needs it (``Authorization: Bearer <key>`` or ``X-API-Key: <key>``); health,
readiness and metrics stay open for probes and scrapers."""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Request

from selfheal.services.common.deps import RuntimeDep


def presented_key(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.headers.get("x-api-key")


async def require_api_key(request: Request, runtime: RuntimeDep) -> None:
    expected = runtime.settings.service.api_key
    if not expected:
        return
    given = presented_key(request)
    if not given:
        raise HTTPException(
            status_code=401,
            detail="This API needs a key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise HTTPException(status_code=403, detail="The API key is not valid.")


def client_headers(api_key: str | None) -> dict[str, str]:
    """Headers a client of the public API sends when a key is configured."""
    return {"x-api-key": api_key} if api_key else {}
