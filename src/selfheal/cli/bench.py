"""`selfheal bench ...`: benchmarks whose results go to files, never timed tests."""

from __future__ import annotations

from pathlib import Path

import typer

from selfheal.cli._common import run_async

app = typer.Typer(help="Benchmarks (results are written to files).", no_args_is_help=True)


@app.command("heal")
def heal(
    cycles: int = typer.Option(2, "--cycles"),
    requests: int = typer.Option(5, "--requests"),
    url: str = typer.Option(
        "http://localhost:8000", "--url", "--manager-url", envvar="MANAGER_URL"
    ),
    output_dir: Path = typer.Option(Path("reports"), "--output-dir"),
    manual: bool = typer.Option(
        False, "--manual", help="Run the optimizer through the API instead of waiting"
    ),
    timeout: float = typer.Option(120.0, "--heal-timeout", help="Seconds to wait for a heal"),
) -> None:
    """Install bad prompts and measure how the running system heals itself."""
    from selfheal.bench.heal import print_summary, run_heal_benchmark

    summary = run_async(
        run_heal_benchmark(
            manager_url=url,
            cycles=cycles,
            requests=requests,
            output_dir=output_dir,
            manual=manual,
            heal_timeout_s=timeout,
        )
    )
    print_summary(summary)
    raise typer.Exit(0 if summary["healed"] else 1)
