"""Exception handlers: a clear sentence for every client error, 503 with request_id downstream."""

from __future__ import annotations

import json
import logging

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException

from selfheal.core.errors import ConflictError, DownstreamUnavailable, NotFoundError
from selfheal.core.logging import request_id_var

log = logging.getLogger(__name__)


def _sentence(error: dict[str, object]) -> str:
    loc = [str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path")]  # type: ignore[attr-defined]
    where = ".".join(loc) or "request body"
    msg = str(error.get("msg", "is invalid"))
    return f"{where}: {msg[0].lower() + msg[1:] if msg else msg}"


class AsciiJSONResponse(JSONResponse):
    """JSON with non-ASCII escaped: an error echoes the client's input, which may hold a lone
    surrogate that UTF-8 cannot encode (the default rendering would turn a 422 into a 500)."""

    def render(self, content: object) -> bytes:
        return json.dumps(content, ensure_ascii=True).encode("ascii")  # NaN input echoes as NaN


async def validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    message = "; ".join(_sentence(e) for e in errors) or "The request is not valid."
    return AsciiJSONResponse(
        status_code=422,
        content=jsonable_encoder({"message": message, "detail": errors}),
    )


def unparsable_body(exc: Exception) -> str | None:
    """The sentence for a body FastAPI could not parse (not UTF-8, nested too deeply), else
    None; FastAPI itself answers a bare 400 "There was an error parsing the body"."""
    cause = exc.__cause__
    if not isinstance(exc, HTTPException) or exc.status_code != 400 or cause is None:
        return None
    if isinstance(cause, UnicodeDecodeError):
        byte = cause.object[cause.start : cause.start + 1].hex()
        return f"request body: is not valid UTF-8 text (byte 0x{byte} at position {cause.start})"
    if isinstance(cause, RecursionError):
        return "request body: the JSON is nested too deeply to parse"
    return f"request body: could not be parsed ({type(cause).__name__})"


async def http_error(request: Request, exc: Exception) -> Response:
    """FastAPI's answer, except that a body it could not parse gets a 422 with a sentence."""
    message = unparsable_body(exc)
    if message is None:
        assert isinstance(exc, HTTPException)
        return await http_exception_handler(request, exc)
    return AsciiJSONResponse(status_code=422, content={"message": message, "detail": message})


async def not_found(_: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(status_code=404, content={"detail": str(exc)})


async def conflict(_: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(status_code=409, content={"detail": str(exc)})


async def downstream(_: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(
        status_code=503,
        content={"detail": str(exc), "request_id": request_id_var.get()},
        headers={"Retry-After": "1"},
    )


# What the database driver raises when the database is away: SQLAlchemy's errors, and the
# connection errors asyncpg raises unwrapped while it opens a connection.
DATABASE_ERRORS: tuple[type[Exception], ...] = (SQLAlchemyError, ConnectionError)


async def database_unavailable(_: Request, exc: Exception) -> JSONResponse:
    """The database is away (restarting, unreachable): 503 with a sentence, logged as a
    warning; the next request opens a fresh connection."""
    log.warning("database unavailable: %s", exc)
    return JSONResponse(
        status_code=503,
        content={
            "detail": f"database unavailable ({type(exc).__name__}); try again shortly",
            "request_id": request_id_var.get(),
        },
        headers={"Retry-After": "1"},
    )


async def unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error: %s", exc)
    return JSONResponse(
        status_code=500,
        content={
            "detail": "Internal error; it has been logged.",
            "request_id": request_id_var.get(),
        },
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(NotFoundError, not_found)
    app.add_exception_handler(ConflictError, conflict)
    app.add_exception_handler(DownstreamUnavailable, downstream)
    for error in DATABASE_ERRORS:
        app.add_exception_handler(error, database_unavailable)
    app.add_exception_handler(Exception, unexpected)
