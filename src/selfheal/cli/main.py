"""The `selfheal` command line. Errors are one sentence; `--debug` shows the traceback."""

from __future__ import annotations

import os
import sys

import typer

from selfheal.cli import bench, model, optimize, prompts, requests, run
from selfheal.cli._api import CliError
from selfheal.cli._common import err_console

app = typer.Typer(
    help="selfheal: LLM code generation that evaluates itself and heals its prompts.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _options(
    debug: bool = typer.Option(
        False, "--debug", envvar="SELFHEAL_DEBUG", help="Show tracebacks instead of one sentence"
    ),
) -> None:
    if debug:
        os.environ["SELFHEAL_DEBUG"] = "1"


run.register(app)
requests.register(app)
optimize.register(app)
app.add_typer(prompts.app, name="prompts")
app.add_typer(bench.app, name="bench")
app.add_typer(model.app, name="model")


def _sentence(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    if isinstance(exc, CliError | OSError) or type(exc).__module__.startswith("selfheal"):
        return text or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def main() -> None:
    """The console entry point: run the app, and say what went wrong in one sentence."""
    try:
        app()
    except SystemExit:
        raise
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        if os.environ.get("SELFHEAL_DEBUG") == "1" or "--debug" in sys.argv[1:]:
            raise
        err_console.print(f"error: {_sentence(exc)}", markup=False, highlight=False)
        err_console.print("(run with --debug for the traceback)", style="dim", highlight=False)
        sys.exit(1)


if __name__ == "__main__":
    main()
