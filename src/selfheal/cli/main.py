"""The `selfheal` command line."""

from __future__ import annotations

import typer

from selfheal.cli import bench, model, optimize, prompts, requests, run

app = typer.Typer(help="selfheal: LLM code generation that evaluates itself and heals its prompts.",
                  no_args_is_help=True, add_completion=False)  # fmt: skip
run.register(app)
requests.register(app)
optimize.register(app)
app.add_typer(prompts.app, name="prompts")
app.add_typer(bench.app, name="bench")
app.add_typer(model.app, name="model")

if __name__ == "__main__":
    app()
