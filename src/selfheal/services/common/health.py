"""/health (liveness), /ready (dependencies), /metrics (Prometheus) on every service."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from selfheal.services.common.deps import RuntimeDep

router = APIRouter(tags=["health"])


@router.get("/health")
async def health(runtime: RuntimeDep) -> dict[str, str]:
    return {"status": "ok", "service": runtime.service}


@router.get("/ready")
async def ready(runtime: RuntimeDep) -> JSONResponse:
    """503 when this service cannot work (database, sandbox). An open LLM circuit breaker
    shows as ``degraded`` but keeps the pod in service: every replica shares the provider,
    so taking them all out of rotation would turn fast 503s into connection errors."""
    checks = await runtime.readiness()
    ok = bool(checks.get("database")) and not any(
        isinstance(v, dict) and v.get("ok") is False for v in checks.values()
    )
    degraded = any(isinstance(v, dict) and v.get("circuit_open") for v in checks.values())
    return JSONResponse(
        status_code=200 if ok else 503,
        content={
            "status": ("degraded" if degraded else "ready") if ok else "not ready",
            "service": runtime.service,
            "checks": checks,
        },
    )


@router.get("/metrics")
async def metrics_endpoint() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
