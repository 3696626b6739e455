"""`selfheal up`, `serve`, `migrate`, `demo`."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import typer
import uvicorn
from rich.markup import escape

from selfheal.cli._common import console, settings
from selfheal.cli._progress import heal_requests, steps
from selfheal.cli._status import StatusLine
from selfheal.core.logging import configure_logging
from selfheal.db import migrate as migrate_mod
from selfheal.stack import APPS, Stack, StackConfig, serve_until_stopped


def _banner(stack: Stack) -> None:
    cfg = stack.settings
    manager = stack.config.url("manager")
    provider = cfg.llm.effective_provider
    llm = provider
    if stack.model_server is not None:
        llm += f" ({stack.model_server.config.alias} at {stack.model_server.url})"
    elif provider == "offline":
        llm += " (the simulator)"
    refusal, warning = stack.sandbox_notice()
    if refusal:
        console.print(f"[bold red]SANDBOX: {escape(refusal)}[/bold red]", highlight=False)
    if warning:
        console.print(f"[bold red]SANDBOX: {escape(warning)}[/bold red]", highlight=False)
    console.print(
        f"[bold green]selfheal is up[/bold green]\n"
        f"  dashboard  {manager}/dashboard\n  API        {manager}/api/v1  (docs {manager}/docs)\n"
        f"  worker     {stack.config.url('worker')}\n  evaluator  {stack.config.url('evaluator')}\n"
        f"database: {_redact(cfg.db.resolved_url)}   LLM: {escape(llm)}   "
        f"optimizer watcher: {'on' if stack.config.watcher else 'off'}   (Ctrl-C stops everything)",
        highlight=False,
    )
    if provider == "offline" and not cfg.llm.provider:
        console.print(f"[yellow]no real model configured: {cfg.llm.local_problem()}[/yellow]")


def _start(stack: Stack) -> None:
    """Start everything, with a progress bar while the local model is assembled and a
    progress line while it loads."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

    with Progress(
        "{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("checking the local model", total=None)
        server = stack.prepare_model_server(
            lambda done, total: bar.update(task, completed=done, total=total)
        )
    if server is None:
        stack.start_services()
        return
    console.print(
        f"starting the local model server: {server.config.alias} ({server.config.model_path})"
    )
    shown = [0.0]
    with console.status("") as status:

        def progress(elapsed: float, state: str) -> None:
            line = f"local model {server.config.alias}: {state} … {elapsed:.0f} s"
            if console.is_terminal:
                status.update(line)
            elif elapsed - shown[0] >= 10:  # a log, not a terminal: one line every 10 s
                shown[0] = elapsed
                console.print(line)

        began = time.monotonic()
        stack.start_services(model_progress=progress)
    console.print(f"local model {server.config.alias} ready in {time.monotonic() - began:.0f} s")


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':')[0]}:***@{host}" if ":" in creds else url
    return url


def register(app: typer.Typer) -> None:
    @app.command("up")
    def up(
        host: str = typer.Option("127.0.0.1", "--host"),
        manager_port: int = typer.Option(8000, "--manager-port"),
        worker_port: int = typer.Option(8001, "--worker-port"),
        evaluator_port: int = typer.Option(8002, "--evaluator-port"),
        data_dir: Path = typer.Option(Path(".selfheal"), "--data-dir", envvar="SELFHEAL_DATA_DIR"),
        watcher: bool = typer.Option(
            True, "--watcher/--no-watcher", help="Run the event-driven optimizer"
        ),
        log_dir: Path | None = typer.Option(
            None, "--log-dir", help="Write each service's log here"
        ),
        model_port: int | None = typer.Option(
            None, "--model-port", help="The local model server's port (default LLM_LOCAL_PORT)"
        ),
    ) -> None:
        """Apply migrations, start manager, worker and evaluator, the local model server when
        LLM_PROVIDER=local, and the optimizer watcher."""
        configure_logging("selfheal-up", settings().service.log_level)
        stack = Stack(
            StackConfig(
                host=host,
                manager_port=manager_port,
                worker_port=worker_port,
                evaluator_port=evaluator_port,
                data_dir=data_dir,
                watcher=watcher,
                log_dir=log_dir,
                model_port=model_port,
            )
        )

        try:
            _start(stack)
        except KeyboardInterrupt:
            stack.stop_services()  # Ctrl-C during start-up leaves no service behind
            raise typer.Exit(130) from None
        except Exception as exc:
            stack.stop_services()
            console.print(f"[red]could not start: {exc}[/red]")
            raise typer.Exit(1) from exc
        status: StatusLine | None = None
        try:
            _banner(stack)  # inside: a Ctrl-C right after start still stops the services
            status = StatusLine(console, stack.config.url("manager"), settings().service.api_key)
            status.start()
            code = asyncio.run(serve_until_stopped(stack))
        except KeyboardInterrupt:
            code = 130
        finally:
            if status is not None:
                status.stop()
            stack.stop_services()
        console.print("selfheal stopped")
        raise typer.Exit(code)

    @app.command("serve")
    def serve(
        service: str = typer.Argument(..., help="manager | worker | evaluator"),
        host: str = typer.Option("0.0.0.0", "--host"),
        port: int | None = typer.Option(None, "--port"),
    ) -> None:
        """Run one service (what a container runs)."""
        if service not in APPS:
            console.print(
                f"[red]unknown service {service!r}; choose one of {', '.join(APPS)}[/red]"
            )
            raise typer.Exit(2)
        default_port = {"manager": 8000, "worker": 8001, "evaluator": 8002}[service]
        uvicorn.run(
            APPS[service],
            factory=True,
            host=host,
            port=port or default_port,
            access_log=False,
            timeout_graceful_shutdown=settings().service.drain_s,
        )

    @app.command("migrate")
    def migrate(
        revision: str = typer.Argument("head"),
        wait: float = typer.Option(0, "--wait", help="Seconds to wait for the database first"),
    ) -> None:
        """Apply Alembic migrations to DATABASE_URL (or the SQLite file in the data directory)."""
        url = settings().db.resolved_url
        if url.startswith("sqlite"):
            settings().db.data_dir.mkdir(parents=True, exist_ok=True)
        if wait > 0:
            try:
                migrate_mod.wait_for_database(url, timeout_s=wait)
            except TimeoutError as exc:
                console.print(f"[red]{exc}: {_redact(url)}[/red]")
                raise typer.Exit(1) from exc
        migrate_mod.upgrade(url, revision)
        console.print(f"database at {_redact(url)} is at {revision}")

    @app.command("demo")
    def demo(
        offline: bool = typer.Option(
            False,
            "--offline",
            help="Run on the simulator (a fast test double): a simulation of healing, not a model's",
        ),
        model: str | None = typer.Option(
            None,
            "--model",
            help="Local model by name or GGUF path (default: LLM_MODEL or the 1.5B)",
        ),
        cycles: int | None = typer.Option(None, "--cycles", help="Default: 1 real, 2 simulated"),
        requests: int = typer.Option(5, "--requests", help="Requests per phase"),
        heldout: int | None = typer.Option(
            None, "--heldout", help="Held-out requests per cycle (default: 3 real, all simulated)"
        ),
        good: int | None = typer.Option(
            None,
            "--good",
            help="Requests under the seed prompt first, a live record to fall back on "
            "(default: 3 real, 0 simulated; 0 makes the optimizer heal without history)",
        ),
        heal_timeout: float | None = typer.Option(
            None, "--heal-timeout", help="Seconds to wait for a new prompt (default 1800 real, 120)"
        ),
        output_dir: Path = typer.Option(Path("reports"), "--output-dir"),
        base_port: int = typer.Option(8000, "--base-port", help="Ports base, base+1, base+2"),
    ) -> None:
        """Bring the system up on a fresh SQLite file with the local model (or, with
        --offline, the simulator), install a bad prompt and watch the system heal it."""
        from selfheal.bench.heal import print_summary, run_heal_benchmark

        configure_logging("selfheal-demo", "WARNING")
        cycles = cycles or (2 if offline else 1)
        heldout = heldout if heldout is not None else (None if offline else 3)
        good = good if good is not None else (0 if offline else 3)
        # The simulator only when asked for: it heals because it was written to; the real
        # model is what the demo is about. Its own SQLite file, whatever DATABASE_URL says.
        stack = Stack(
            StackConfig.scratch(
                "selfheal-demo-",
                base_port=base_port,
                llm_provider="offline" if offline else "local",
                llm_model=None if offline else model,
            )
        )
        data_dir = stack.config.data_dir
        try:
            _start(stack)
        except Exception as exc:
            stack.stop_services()
            console.print(f"[red]could not start: {exc}[/red]")
            raise typer.Exit(1) from exc
        _banner(stack)
        if offline:
            console.print("[yellow]SIMULATION: the offline model, healed by design[/yellow]")
        else:
            console.print(
                "a real model on this CPU: each call takes seconds, a heal takes minutes "
                f"(logs in {data_dir / 'logs'})"
            )

        async def go() -> dict[str, object]:
            watcher = await stack.start_watcher()
            task = asyncio.create_task(watcher.run())
            total = heal_requests(cycles, requests, heldout) + good
            try:
                with steps("healing a bad prompt", total) as advance:
                    return await run_heal_benchmark(
                        manager_url=stack.config.url("manager"),
                        cycles=cycles,
                        requests=requests,
                        output_dir=output_dir,
                        manual=False,
                        on_request=advance,
                        heal_timeout_s=heal_timeout or (120.0 if offline else 1800.0),
                        heldout_limit=heldout,
                        good_requests=good,
                    )
            finally:
                await stack.stop_watcher()
                task.cancel()

        try:
            result = asyncio.run(go())
        finally:
            stack.stop_services()
        print_summary(result)
        console.print(
            f"reports: {output_dir}/healing_report.md, {output_dir}/healing.png, {output_dir}/metrics.json"
        )
        ok = bool(result.get("healed"))
        raise typer.Exit(0 if ok else 1)
