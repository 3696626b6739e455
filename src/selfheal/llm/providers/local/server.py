"""The model server: llama.cpp's OpenAI-compatible server (``xllamacpp``) as a supervised child.

``python -m selfheal.llm.providers.local.server --model PATH --port N ...`` loads the
GGUF file and serves ``/health`` and ``/v1/chat/completions`` on 127.0.0.1 until it gets
SIGTERM. It runs in its own process so that a crash in native code (llama.cpp) takes
down only the model, never a service: ``ModelServer`` starts it, waits for ``/health``,
restarts it when it dies and stops it on exit. One server is shared by every role.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ServerConfig:
    model_path: Path
    alias: str
    host: str = "127.0.0.1"
    port: int = 8090
    n_ctx: int = 8192
    parallel: int = 2
    threads: int = 0  # 0: every core

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def argv(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "selfheal.llm.providers.local.server",
            "--model",
            str(self.model_path),
            "--alias",
            self.alias,
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--ctx",
            str(self.n_ctx),
            "--parallel",
            str(self.parallel),
            "--threads",
            str(self.threads),
            "--parent-pid",
            str(os.getpid()),
        ]


def probe(url: str, timeout: float = 2.0, alias: str | None = None) -> str:
    """``ready``, ``loading`` (503 while the model loads) or ``down``; with ``alias``,
    ``foreign`` when what answers there serves another model (someone else's server)."""
    root = url.rstrip("/")
    try:
        response = httpx.get(root + "/health", timeout=timeout)
        if response.status_code != 200:
            return "loading" if response.status_code == 503 else "down"
        if alias is None:
            return "ready"
        listed = httpx.get(root + "/v1/models", timeout=timeout).json().get("data", [])
    except (httpx.HTTPError, ValueError, AttributeError):
        return "down"
    names = {
        str(n) for m in listed if isinstance(m, dict) for n in [m.get("id"), *m.get("aliases", [])]
    }
    return "ready" if alias in names else "foreign"


class ModelServer:
    """Supervises one model-server process: start, wait for health, restart, stop.

    A monitor thread restarts the process whenever it exits without being asked to,
    with a backoff that grows while it keeps dying within a minute of starting.
    """

    def __init__(
        self,
        config: ServerConfig,
        *,
        log_path: Path | None = None,
        start_timeout_s: float = 300.0,
        poll_s: float = 0.5,
    ) -> None:
        self.config = config
        self.log_path = log_path
        self.start_timeout_s = start_timeout_s
        self.poll_s = poll_s
        self.state = "stopped"  # stopped | starting | ready | restarting | failed
        self.restarts = 0
        self.last_exit: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._monitor: threading.Thread | None = None
        self._started_at = 0.0

    @property
    def url(self) -> str:
        return self.config.url

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def _spawn(self) -> None:
        if self.log_path is not None and self._log is None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = self.log_path.open("ab")
        out = self._log if self._log is not None else subprocess.DEVNULL
        self._proc = subprocess.Popen(self.config.argv(), stdout=out, stderr=out)
        self._started_at = time.monotonic()

    def start(self) -> None:
        """Launch the process and the monitor; returns at once (see ``wait_ready``)."""
        with self._lock:
            if self._proc is not None:
                return
            if probe(self.url, timeout=1.0) != "down":
                raise RuntimeError(
                    f"{self.url} already answers: port {self.config.port} is taken by another "
                    "server (set LLM_LOCAL_PORT or --model-port)"
                )
            self._stopping.clear()
            self.state = "starting"
            self._spawn()
        self._monitor = threading.Thread(target=self._watch, name="model-server", daemon=True)
        self._monitor.start()

    def wait_ready(
        self, timeout: float | None = None, progress: Callable[[float, str], None] | None = None
    ) -> None:
        """Block until ``/health`` answers 200; ``progress(seconds, state)`` on every poll."""
        limit = self.start_timeout_s if timeout is None else timeout
        began = time.monotonic()
        while True:
            ready = self._alive() and self._probe() == "ready"
            if ready:
                self.state = "ready"
            elapsed = time.monotonic() - began
            if progress is not None:
                progress(elapsed, self.state)
            if ready:
                return
            if self.state == "failed" or self._stopping.is_set():
                raise RuntimeError(
                    f"the model server failed to start (exit code {self.last_exit}); "
                    f"see {self.log_path or 'its output'}"
                )
            if elapsed > limit:
                raise RuntimeError(
                    f"the model server did not answer /health within {limit:.0f} s; "
                    f"see {self.log_path or 'its output'}"
                )
            time.sleep(self.poll_s)

    def _alive(self) -> bool:
        proc = self._proc
        return proc is not None and proc.poll() is None

    def _probe(self) -> str:
        return probe(self.url, timeout=1.0, alias=self.config.alias)

    def _watch(self) -> None:
        fast_deaths = 0
        while not self._stopping.is_set():
            proc = self._proc
            if proc is None:
                return
            code = proc.poll()
            if code is None:
                if self.state in ("starting", "restarting") and self._probe() == "ready":
                    self.state = "ready"
                self._stopping.wait(self.poll_s)
                continue
            if self._stopping.is_set():
                return
            self.last_exit = code
            lived = time.monotonic() - self._started_at
            fast_deaths = fast_deaths + 1 if lived < 60 else 0
            if fast_deaths > 5:
                log.error(
                    "the model server died %d times in a row at start-up; giving up", fast_deaths
                )
                self.state = "failed"
                return
            delay = min(30.0, 0.5 * 2 ** max(0, fast_deaths - 1))
            log.warning(
                "the model server exited with code %s after %.0f s; restarting in %.1f s",
                code,
                lived,
                delay,
            )
            self.state = "restarting"
            if self._stopping.wait(delay):
                return
            with self._lock:
                if self._stopping.is_set():
                    return
                self.restarts += 1
                self._spawn()

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the process (SIGKILL after ``timeout``) and end the monitor."""
        self._stopping.set()
        with self._lock:
            proc = self._proc
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            self._proc = None
        if self._monitor is not None and self._monitor is not threading.current_thread():
            self._monitor.join(timeout=timeout)
        if self._log is not None:
            self._log.close()
            self._log = None
        self.state = "stopped"

    def describe(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "url": self.url,
            "model": self.config.alias,
            "pid": self.pid,
            "restarts": self.restarts,
        }


def _orphaned(parent_pid: int) -> bool:
    return bool(parent_pid) and os.getppid() != parent_pid


def _serve(args: argparse.Namespace) -> int:
    if _orphaned(args.parent_pid):
        return 0
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = args.model
    params.model_alias = {args.alias}
    params.hostnames = [args.host]
    params.port = args.port
    params.n_ctx = args.ctx
    params.n_parallel = args.parallel
    threads = args.threads or len(os.sched_getaffinity(0)) or 1
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    server = xllamacpp.Server(params)  # loads the model, then serves on a native thread
    print(f"model server: {args.alias} on {server.listening_address}", flush=True)
    # Orphaned (the supervisor was SIGKILLed): exit rather than hold the port and the RAM.
    while not stop.wait(1.0) and not _orphaned(args.parent_pid):
        pass
    del server
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--model", required=True)
    parser.add_argument("--alias", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ctx", type=int, default=8192)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--parent-pid", type=int, default=0)
    return _serve(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
