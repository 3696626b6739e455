"""Run the whole system on one machine: migrations, the three services as processes, and
the optimizer watcher in this process (used by `selfheal up` and `selfheal demo`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from selfheal.core.config import get_settings
from selfheal.db import migrate
from selfheal.services.optimizer.standalone import StandaloneOptimizer, open_optimizer
from selfheal.services.optimizer.watcher import Watcher

log = logging.getLogger(__name__)

APPS = {
    "worker": "selfheal.services.worker.app:create_app",
    "evaluator": "selfheal.services.evaluator.app:create_app",
    "manager": "selfheal.services.manager.app:create_app",
}


@dataclass
class StackConfig:
    host: str = "127.0.0.1"
    manager_port: int = 8000
    worker_port: int = 8001
    evaluator_port: int = 8002
    data_dir: Path = Path(".selfheal")
    database_url: str | None = None
    watcher: bool = True
    log_dir: Path | None = None

    def url(self, service: str) -> str:
        port = {
            "manager": self.manager_port,
            "worker": self.worker_port,
            "evaluator": self.evaluator_port,
        }[service]
        return f"http://{self.host}:{port}"

    def port(self, service: str) -> int:
        return int(self.url(service).rsplit(":", 1)[1])


@dataclass
class Stack:
    config: StackConfig
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    optimizer: StandaloneOptimizer | None = None
    watcher: Watcher | None = None

    def environment(self) -> dict[str, str]:
        cfg = self.config
        cfg.data_dir.mkdir(parents=True, exist_ok=True)
        url = cfg.database_url or os.environ.get("DATABASE_URL")
        if not url:
            url = f"sqlite+aiosqlite:///{(cfg.data_dir / 'selfheal.db').resolve()}"
        return {
            "DATABASE_URL": url,
            "SELFHEAL_DATA_DIR": str(cfg.data_dir.resolve()),
            "WORKER_URL": cfg.url("worker"),
            "EVALUATOR_URL": cfg.url("evaluator"),
            "MANAGER_URL": cfg.url("manager"),
        }

    def start_services(self) -> None:
        env = self.environment()
        os.environ.update(env)
        get_settings.cache_clear()
        migrate.upgrade(env["DATABASE_URL"])
        for name, target in APPS.items():
            out = None
            if self.config.log_dir is not None:
                self.config.log_dir.mkdir(parents=True, exist_ok=True)
                out = open(self.config.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - lives with the child
            self.procs[name] = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "--factory", target, "--host", self.config.host,
                 "--port", str(self.config.port(name)), "--log-level", "warning", "--no-access-log"],
                env={**os.environ, **env}, stdout=out, stderr=out,
            )  # fmt: skip
        self.wait_healthy()

    def wait_healthy(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        pending = set(APPS)
        while pending:
            for name in list(pending):
                proc = self.procs[name]
                if proc.poll() is not None:
                    raise RuntimeError(
                        f"the {name} service exited with code {proc.returncode} during start-up"
                    )
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(self.config.url(name) + "/health", timeout=1).status_code == 200:
                        pending.discard(name)
            if pending and time.monotonic() > deadline:
                raise RuntimeError(
                    f"services not healthy after {timeout:.0f} s: {', '.join(sorted(pending))}"
                )
            if pending:
                time.sleep(0.1)

    def sandbox_notice(self) -> tuple[str | None, str | None]:
        """What the evaluator's /ready says about its sandbox: (refusal, warning). A refusal
        means it runs no code (the minimum isolation is missing); a warning, that the
        operator opted into weak isolation."""
        try:
            checks = httpx.get(self.config.url("evaluator") + "/ready", timeout=5).json()
            sandbox = checks.get("checks", {}).get("sandbox", {})
        except (httpx.HTTPError, ValueError, AttributeError) as exc:
            return f"the evaluator's /ready could not be read ({type(exc).__name__})", None
        if not isinstance(sandbox, dict):
            return None, None
        refusal = sandbox.get("reason") if sandbox.get("ok") is False else None
        return (str(refusal) if refusal else None), sandbox.get("warning")

    def dead_service(self) -> str | None:
        return next((n for n, p in self.procs.items() if p.poll() is not None), None)

    async def start_watcher(self) -> Watcher:
        self.optimizer = open_optimizer(get_settings())
        self.watcher = Watcher(self.optimizer.deps)
        return self.watcher

    async def stop_watcher(self) -> None:
        if self.watcher is not None:
            self.watcher.stop()
        if self.optimizer is not None:
            await self.optimizer.aclose()
            self.optimizer = None

    def stop_services(self, timeout: float = 10.0) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def serve_until_stopped(stack: Stack) -> int:
    """Run the watcher until SIGINT/SIGTERM or a service dies; returns the exit code."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    watcher_task = None
    if stack.config.watcher:
        watcher = await stack.start_watcher()
        watcher_task = asyncio.create_task(watcher.run())
    code = 0
    try:
        while not stop.is_set():
            dead = stack.dead_service()
            if dead is not None:
                log.error("the %s service exited; stopping everything", dead)
                code = 1
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=0.5)
    finally:
        await stack.stop_watcher()
        if watcher_task is not None:
            watcher_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher_task
    return code
