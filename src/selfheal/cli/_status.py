"""The live one-line status `selfheal up` keeps under its banner: requests, pass rate,
live prompt versions and the model that served, read from the manager's /api/v1/status."""

from __future__ import annotations

import threading
from typing import Any

import httpx
from rich.console import Console
from rich.live import Live
from rich.text import Text

from selfheal.services.common.auth import client_headers


def status_text(data: dict[str, Any]) -> Text:
    """One line from a /api/v1/status answer."""
    rate = data.get("last_hour_pass_rate")
    live = ", ".join(
        f"{v['task_type']} v{v['version']}"
        + (f" (canary {v['canary_share']:.0%})" if v["status"] == "canary" else "")
        for v in data.get("live", [])
    )
    line = Text("● ", style="green")
    line.append(f"{data['total_requests']} requests · last hour {data['last_hour_requests']}")
    line.append(f" ({rate:.0%} passed)" if rate is not None else "")
    line.append(f" · live: {live or 'none'}")
    line.append(f" · model: {data.get('provider') or '-'}/{data.get('model') or '-'}")
    return line


class StatusLine:
    """Polls the manager in a thread and redraws one line (terminals only)."""

    def __init__(self, console: Console, url: str, api_key: str | None, every_s: float = 2.0):
        self._console, self._url, self._every = console, url.rstrip("/"), every_s
        self._headers = client_headers(api_key)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="status-line", daemon=True)

    def start(self) -> None:
        if self._console.is_terminal:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _poll(self, client: httpx.Client) -> Text:
        try:
            resp = client.get(f"{self._url}/api/v1/status", headers=self._headers)
            resp.raise_for_status()
            return status_text(resp.json())
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            return Text(f"○ status unavailable: {exc}", style="yellow")

    def _run(self) -> None:
        with (
            httpx.Client(timeout=5) as client,
            Live(Text("…"), console=self._console, transient=True, auto_refresh=False) as live,
        ):
            while not self._stop.is_set():
                live.update(self._poll(client), refresh=True)
                self._stop.wait(self._every)
