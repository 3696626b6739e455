"""Progress bars for the long commands (demo, bench ...)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

from selfheal.cli._common import console


@contextmanager
def steps(description: str, total: int) -> Iterator[Callable[[str], None]]:
    """A bar of ``total`` steps; the callback advances it and names the current step."""
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as bar:
        task = bar.add_task(description, total=total)

        def advance(step: str) -> None:
            bar.update(task, advance=1, description=step)

        yield advance


def heal_requests(cycles: int, requests: int, heldout: int | None = None) -> int:
    """How many requests the heal benchmark sends: before, after and held-out, per cycle."""
    from selfheal.testing.scenarios import split_tasks

    return cycles * (2 * requests + len(split_tasks(requests, heldout)[1]))
