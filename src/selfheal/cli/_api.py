"""The CLI's client of the manager's public API (like `gh` or `kubectl`): every command that
reads or changes the system goes through here, so it works against any deployment.
Failures become one ``CliError`` sentence; `--debug` shows the traceback."""

from __future__ import annotations

from typing import Annotated, Any

import httpx
import typer

from selfheal.services.common.auth import client_headers

DEFAULT_URL = "http://127.0.0.1:8000"

UrlOption = Annotated[
    str,
    typer.Option(
        "--url",
        envvar=["SELFHEAL_URL", "MANAGER_URL"],
        help="The manager's address (env SELFHEAL_URL)",
        show_default=True,
    ),
]
ApiKeyOption = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        envvar="SELFHEAL_API_KEY",
        help="The API key when auth is on (env SELFHEAL_API_KEY)",
        show_default=False,
    ),
]

AdminKeyOption = Annotated[
    str | None,
    typer.Option(
        "--admin-key",
        envvar="SELFHEAL_ADMIN_API_KEY",
        help="The admin key for prompt changes and optimizer runs, when one is set "
        "(env SELFHEAL_ADMIN_API_KEY; without it the API key is sent)",
        show_default=False,
    ),
]


class CliError(Exception):
    """Something the user can act on, said in one sentence."""


class Api:
    """A small synchronous client of the manager: one connection pool per command."""

    def __init__(self, url: str, api_key: str | None, *, timeout: float = 60.0) -> None:
        self.url = url.rstrip("/")
        self._client = httpx.Client(
            base_url=self.url, headers=client_headers(api_key or None), timeout=timeout
        )

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *exc: object) -> None:
        self._client.close()

    def get(self, path: str, **params: Any) -> Any:
        clean = {k: v for k, v in params.items() if v is not None}
        return self._decode(self._send("GET", path, params=clean))

    def get_text(self, path: str, **params: Any) -> str:
        clean = {k: v for k, v in params.items() if v is not None}
        return self._send("GET", path, params=clean).text

    def post(self, path: str, body: dict[str, Any], *, timeout: float | None = None) -> Any:
        extra = {"timeout": timeout} if timeout is not None else {}
        return self._decode(self._send("POST", path, json=body, **extra))

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            resp = self._client.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise CliError(f"the manager at {self.url} did not answer in time") from exc
        except httpx.HTTPError as exc:
            reason = str(exc) or type(exc).__name__
            raise CliError(
                f"cannot reach the manager at {self.url} ({reason}); start one with "
                "`selfheal up` or point --url / SELFHEAL_URL at it"
            ) from exc
        if resp.status_code >= 400:
            raise CliError(self._sentence(resp))
        return resp

    def _sentence(self, resp: httpx.Response) -> str:
        if resp.status_code == 401:
            return f"the manager at {self.url} needs an API key: pass --api-key or set SELFHEAL_API_KEY"
        if resp.status_code == 403:
            return f"the manager at {self.url} refused the API key"
        message = ""
        try:
            data = resp.json()
        except ValueError:
            data = None
        if isinstance(data, dict):
            raw = data.get("message") or data.get("detail") or ""
            message = raw if isinstance(raw, str) else str(raw)
        message = message or resp.text.strip()[:300] or resp.reason_phrase
        return f"{message} (HTTP {resp.status_code})"

    @staticmethod
    def _decode(resp: httpx.Response) -> Any:
        try:
            return resp.json()
        except ValueError as exc:
            raise CliError(f"the manager answered {resp.status_code} without JSON") from exc
