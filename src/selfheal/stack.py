"""Run the whole system on one machine: migrations, the three services as processes, the
local model server when a role uses ``LLM_PROVIDER=local``, and the optimizer watcher in
this process (used by `selfheal up` and `selfheal demo`).

The stack never edits this process's environment: its services get theirs from
``child_environment()``, and what runs here (the watcher, the model server's supervisor)
reads ``Stack.settings``, the same values as one validated Settings object."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, BinaryIO

import httpx

from selfheal.core.config import Settings, get_settings
from selfheal.db import migrate
from selfheal.llm.base import Role
from selfheal.llm.providers.local.models import DEFAULT_MODEL, Progress, resolve_model
from selfheal.llm.providers.local.server import ModelServer, ServerConfig
from selfheal.llm.registry import role_settings
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
    model_port: int | None = None  # the local model server's; default LLM_LOCAL_PORT
    # A provider (and model) of this stack's own, with none of the environment's LLM key,
    # URL or model; None: the environment's LLM settings as they are.
    llm_provider: str | None = None
    llm_model: str | None = None
    # False: a database of the stack's own (``database_url`` or a file in the data dir),
    # whatever DATABASE_URL says.
    environment_database: bool = True

    @classmethod
    def scratch(cls, prefix: str, *, base_port: int, **fields: Any) -> StackConfig:
        """A throwaway stack (the demo, the benchmarks): a fresh temporary data directory
        with its logs, its own database, ports ``base_port`` to ``base_port + 2``."""
        data_dir = Path(tempfile.mkdtemp(prefix=prefix))
        return cls(
            manager_port=base_port,
            worker_port=base_port + 1,
            evaluator_port=base_port + 2,
            data_dir=data_dir,
            log_dir=data_dir / "logs",
            environment_database=False,
            **fields,
        )

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
    model_server: ModelServer | None = None
    # Seconds from each service's process start to its first healthy /health.
    start_s: dict[str, float] = field(default_factory=dict)
    _spawned: dict[str, float] = field(default_factory=dict)
    _log_files: list[BinaryIO] = field(default_factory=list)

    def environment(self) -> dict[str, str]:
        """The variables this stack sets for its services (on top of the environment)."""
        cfg = self.config
        cfg.data_dir.mkdir(parents=True, exist_ok=True)
        url = cfg.database_url or (get_settings().db.url if cfg.environment_database else None)
        if not url:
            url = f"sqlite+aiosqlite:///{(cfg.data_dir / 'selfheal.db').resolve()}"
        env = {
            "DATABASE_URL": url,
            "SELFHEAL_DATA_DIR": str(cfg.data_dir.resolve()),
            "WORKER_URL": cfg.url("worker"),
            "EVALUATOR_URL": cfg.url("evaluator"),
            "MANAGER_URL": cfg.url("manager"),
        }
        if cfg.model_port is not None:
            env["LLM_LOCAL_PORT"] = str(cfg.model_port)
        if cfg.llm_provider is not None:
            env["LLM_PROVIDER"] = cfg.llm_provider
            if cfg.llm_model:
                env["LLM_MODEL"] = cfg.llm_model
        return env

    def _unset(self) -> tuple[str, ...]:
        """The environment's variables this stack's services must not see."""
        if self.config.llm_provider is None:
            return ()
        return ("LLM_API_KEY", "LLM_BASE_URL", "LLM_MODEL")

    def child_environment(self) -> dict[str, str]:
        """The whole environment of a service process of this stack."""
        unset = self._unset()
        inherited = {k: v for k, v in os.environ.items() if k not in unset}
        return {**inherited, **self.environment()}

    @cached_property
    def settings(self) -> Settings:
        """The settings this stack's services run with, for what runs in this process."""
        base, env, cfg = get_settings(), self.environment(), self.config
        llm: dict[str, Any] = {}
        if cfg.model_port is not None:
            llm["local_port"] = cfg.model_port
        if cfg.llm_provider is not None:
            llm |= {"provider": cfg.llm_provider, "model": cfg.llm_model or None}
            llm |= {"api_key": None, "base_url": None}
        return base.with_changes(
            db={"url": env["DATABASE_URL"], "data_dir": cfg.data_dir.resolve()},
            llm=llm,
            service={
                "worker_url": env["WORKER_URL"],
                "evaluator_url": env["EVALUATOR_URL"],
                "manager_url": env["MANAGER_URL"],
            },
        )

    def local_model(self) -> str | None:
        """The model the local server must load, or None when no role needs one here (no
        role uses ``local``, or ``LLM_BASE_URL`` points it at a server run elsewhere)."""
        llm = self.settings.llm
        for role in Role:
            provider, model, _, base_url = role_settings(llm, role)
            if provider == "local" and not base_url:
                return model or DEFAULT_MODEL
        return None

    def prepare_model_server(self, progress: Progress | None = None) -> ModelServer | None:
        """Resolve (and if needed assemble and verify) the local model; build its supervisor."""
        if self.model_server is not None:
            return self.model_server
        model = self.local_model()
        if model is None:
            return None
        llm = self.settings.llm
        alias, path = resolve_model(model, llm.models_dir, progress)
        logs = self.config.log_dir or self.config.data_dir
        self.model_server = ModelServer(
            ServerConfig(
                model_path=path,
                alias=alias,
                host=llm.local_host,
                port=llm.local_port,
                n_ctx=llm.local_n_ctx,
                parallel=llm.local_parallel,
                threads=llm.local_threads,
            ),
            log_path=logs / "model-server.log",
            start_timeout_s=llm.local_start_timeout_s,
        )
        return self.model_server

    def start_services(self, model_progress: Callable[[float, str], None] | None = None) -> None:
        """Start the model server (if any) and the services together; wait for all of them."""
        env = self.child_environment()
        server = self.prepare_model_server()
        if server is not None:
            server.start()
        migrate.upgrade(env["DATABASE_URL"])
        for name, target in APPS.items():
            out = None
            if self.config.log_dir is not None:
                self.config.log_dir.mkdir(parents=True, exist_ok=True)
                out = open(self.config.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - closed in stop_services
                self._log_files.append(out)
            self._spawned[name] = time.monotonic()
            self.procs[name] = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "--factory",
                    target,
                    "--host",
                    self.config.host,
                    "--port",
                    str(self.config.port(name)),
                    "--log-level",
                    "warning",
                    "--no-access-log",
                    "--timeout-graceful-shutdown",
                    str(self.settings.service.drain_s),
                ],
                env=env,
                stdout=out,
                stderr=out,
            )
        self.wait_healthy()
        if server is not None:
            server.wait_ready(progress=model_progress)

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
                        self.start_s[name] = time.monotonic() - self._spawned.get(name, 0.0)
            if pending and time.monotonic() > deadline:
                raise RuntimeError(
                    f"services not healthy after {timeout:.0f} s: {', '.join(sorted(pending))}"
                )
            if pending:
                time.sleep(0.02)

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
        """A service process that exited, or the model server once it gave up restarting."""
        dead = next((n for n, p in self.procs.items() if p.poll() is not None), None)
        if dead is None and self.model_server is not None and self.model_server.state == "failed":
            return "model server"
        return dead

    async def start_watcher(self) -> Watcher:
        self.optimizer = open_optimizer(self.settings)
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
        for log_file in self._log_files:
            log_file.close()
        self._log_files.clear()
        if self.model_server is not None:
            self.model_server.stop(timeout)


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
