"""Manager :8000 — the public gateway: refine -> worker -> evaluator -> log."""

from __future__ import annotations

import asyncio
import json

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from selfheal.core.config import Settings
from selfheal.llm.base import Role
from selfheal.services.common import errors
from selfheal.services.common.app import create_service_app
from selfheal.services.common.clients import service_clients
from selfheal.services.common.runtime import Runtime
from selfheal.services.common.stats_router import router as stats_router
from selfheal.services.manager import flows
from selfheal.services.manager.dashboard import router as dashboard
from selfheal.services.manager.log_spool import LogSpool
from selfheal.services.manager.router import router
from selfheal.services.manager.state import ManagerState
from selfheal.services.optimizer.replay import HttpReplayer
from selfheal.services.optimizer.standalone import optimizer_deps


async def _start(runtime: Runtime) -> ManagerState:
    worker, evaluator = service_clients(runtime.settings.service)
    spool = LogSpool(runtime.settings.db.resolved_spool_dir)
    replay = asyncio.create_task(
        spool.run(
            lambda row: flows.store_row(runtime, row),
            interval_s=runtime.settings.db.spool_interval_s,
        ),
        name="log-spool-replay",
    )
    return ManagerState(
        worker=worker,
        evaluator=evaluator,
        optimizer=optimizer_deps(runtime, HttpReplayer(worker, evaluator)),
        log_spool=spool,
        spool_replay=replay,
    )


def _is_code_request(request: Request) -> bool:
    return request.method == "POST" and request.url.path == "/api/v1/request"


async def _rejected(request: Request, exc: Exception) -> JSONResponse:
    """422 as everywhere, and a log row for a refused code request (every request that
    reached the manager leaves one)."""
    response = await errors.validation_error(request, exc)
    if _is_code_request(request):
        content = json.loads(bytes(response.body))
        body = exc.body if isinstance(exc, RequestValidationError) else None
        content["request_id"] = await flows.log_rejected(
            request.app.state.runtime, body=body, message=content["message"]
        )
        return errors.AsciiJSONResponse(status_code=422, content=content)
    return response


async def _http_error(request: Request, exc: Exception) -> Response:
    """As everywhere; a code request whose body cannot be parsed is refused with 422 and logged."""
    response = await errors.http_error(request, exc)
    message = errors.unparsable_body(exc)
    if message is None or not _is_code_request(request):
        return response
    cause = exc.__cause__
    raw = cause.object if isinstance(cause, UnicodeDecodeError) else b""
    request_id = await flows.log_rejected(
        request.app.state.runtime, body=bytes(raw), message=message
    )
    return errors.AsciiJSONResponse(
        status_code=422, content={"message": message, "detail": message, "request_id": request_id}
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    app = create_service_app(
        service="manager",
        title="selfheal manager",
        routers=[router, stats_router],
        roles=[Role.REFINER, Role.ANALYST, Role.OPTIMIZER],
        on_start=_start,
        settings=settings,
    )
    app.add_exception_handler(RequestValidationError, _rejected)
    app.add_exception_handler(HTTPException, _http_error)
    app.include_router(dashboard.router)
    app.mount("/dashboard/static", dashboard.static_files, name="dashboard-static")
    app.add_exception_handler(dashboard.NeedsKey, dashboard.needs_key_page)
    return app
