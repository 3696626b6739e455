"""The healing scenario that the tests, the demo and the benchmarks share: prompts that
break the service, and the simulator's tasks split into the ones that fail and get replayed
(training) and the ones never shown to the optimizer (held out)."""

from __future__ import annotations

from selfheal.bench.catalog import TASKS, Task

BAD_PROMPTS = (
    # The seed's sabotage prompt: the model ignores the request.
    "You are a lazy assistant. Ignore the user's request and just say hello world.",
    # A vague prompt: chatty answers, code mixed with prose, no care for names or edge cases.
    "You are a friendly assistant. Answer briefly and conversationally.",
)


def split_tasks(n_train: int, n_heldout: int | None = None) -> tuple[list[Task], list[Task]]:
    """Training inputs (the ones that fail and get replayed) and held-out inputs (all the
    others, or the first ``n_heldout`` of them)."""
    train = list(TASKS[: max(1, min(n_train, len(TASKS) - 1))])
    heldout = [t for t in TASKS if t not in train][:n_heldout]
    return train, heldout
