"""The dashboard's routes: the page, and the fragments it opens (a diff, a request's detail).
Behind the API's key when one is set: a browser presents it once (``/dashboard?key=...``)
and keeps it in an HttpOnly cookie."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, PackageLoader, select_autoescape

from selfheal import __version__
from selfheal.core.errors import NotFoundError
from selfheal.db import execution_logs
from selfheal.db.types import DB_INT_MAX
from selfheal.services.common.auth import client_keys, key_matches, presented_key
from selfheal.services.common.deps import RuntimeDep, SessionDep
from selfheal.services.manager import prompt_service
from selfheal.services.manager.dashboard import page

COOKIE = "selfheal_api_key"
STATIC_DIR = Path(__file__).parent / "static"

templates = Environment(
    loader=PackageLoader("selfheal.services.manager.dashboard", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
static_files = StaticFiles(directory=STATIC_DIR)


class NeedsKey(Exception):
    """The API key is on and the browser has not presented it (-> the key form)."""

    def __init__(self, *, wrong: bool) -> None:
        self.wrong = wrong


def _key_ok(given: str | None, expected: list[str]) -> bool:
    return any(key_matches(given, key) for key in expected)


async def require_dashboard_key(request: Request, runtime: RuntimeDep) -> None:
    expected = client_keys(runtime.settings.service)
    if not expected:
        return
    given = presented_key(request) or request.cookies.get(COOKIE)
    if not _key_ok(given, expected):
        raise NeedsKey(wrong=given is not None)


async def needs_key_page(request: Request, exc: Exception) -> HTMLResponse:
    wrong = isinstance(exc, NeedsKey) and exc.wrong
    html = templates.get_template("key.html").render(wrong=wrong)
    return HTMLResponse(html, status_code=403 if wrong else 401)


router = APIRouter(prefix="/dashboard", tags=["dashboard"], include_in_schema=False)
guarded = [Depends(require_dashboard_key)]


def _script_json(data: Any) -> str:
    """JSON safe inside a <script> element whatever the strings hold."""
    text = json.dumps(data)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _render(name: str, **context: Any) -> HTMLResponse:
    return HTMLResponse(templates.get_template(name).render(**context))


@router.get("", response_class=HTMLResponse, response_model=None)
async def dashboard(
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    hours: Annotated[float, Query(gt=0, le=24 * 90)] = 24,
    runs_offset: Annotated[int, Query(ge=0, le=DB_INT_MAX)] = 0,
    failures_before: Annotated[int | None, Query(ge=1, le=DB_INT_MAX)] = None,
    requests_before: Annotated[int | None, Query(ge=1, le=DB_INT_MAX)] = None,
    refresh: Annotated[int, Query(ge=0, le=3600)] = 10,
    key: Annotated[str | None, Query(max_length=512)] = None,
) -> Response:
    """The whole page: healing over time, live prompts, history, runs, failures, requests."""
    expected = client_keys(runtime.settings.service)
    if expected and key is not None:
        if not _key_ok(key, expected):
            raise NeedsKey(wrong=True)
        target = request.url.remove_query_params("key")
        response = RedirectResponse(
            str(target.path) + (f"?{target.query}" if target.query else ""), 303
        )
        response.set_cookie(COOKIE, key, httponly=True, samesite="strict", path="/dashboard")
        return response
    await require_dashboard_key(request, runtime)

    context = await page.gather(
        session,
        hours=hours,
        runs_offset=runs_offset,
        failures_before=failures_before,
        requests_before=requests_before,
    )
    chart = context.pop("chart")
    return _render(
        "dashboard.html",
        version=__version__,
        hours=hours,
        refresh_s=refresh,
        page_size=page.PAGE_SIZE,
        chart_json=_script_json(chart),
        **context,
    )


@router.get("/diff", response_class=HTMLResponse, dependencies=guarded)
async def diff(
    session: SessionDep,
    task_type: Annotated[str, Query(max_length=64)],
    a: Annotated[int, Query(ge=1, le=DB_INT_MAX)],
    b: Annotated[int, Query(ge=1, le=DB_INT_MAX)],
) -> HTMLResponse:
    """A unified diff of version ``b`` against version ``a``, as an HTML fragment."""
    try:
        text = await prompt_service.diff(session, task_type=task_type, version=b, against=a)
    except NotFoundError as exc:
        raise HTTPException(404, str(exc)) from exc
    return _render("diff.html", task_type=task_type, a=a, b=b, lines=text.splitlines())


@router.get("/requests/{request_id}", response_class=HTMLResponse, dependencies=guarded)
async def request_detail(request_id: str, session: SessionDep) -> HTMLResponse:
    """One request in full: input, refined input, output, code, evaluation detail."""
    row = await execution_logs.get(session, request_id=request_id)
    if row is None:
        raise HTTPException(404, f"no request with id {request_id!r}")
    detail = (
        json.dumps(row.evaluation_detail, indent=2, default=str) if row.evaluation_detail else None
    )
    return _render("request.html", r=row, detail=detail)
