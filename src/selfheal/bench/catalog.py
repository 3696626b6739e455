"""The offline simulator's task catalogue, read from ``bench/data/simulator_tasks.toml``.

It is benchmark data: the programming tasks the simulator can solve (reference and
naive solutions, tests). The offline provider looks requests up here; nothing in the
provider knows a task. Figures made with these tasks and the simulator are simulation.
"""

from __future__ import annotations

import importlib.resources
import re
import tomllib
from dataclasses import dataclass
from functools import cache

__all__ = ["TASKS", "Task", "by_id", "find_task", "load_tasks"]


@dataclass(frozen=True, slots=True)
class Task:
    """A programming task the offline model knows."""

    id: str
    entry_point: str
    request: str
    keywords: tuple[str, ...]
    reference: str
    naive: str
    tests: str
    validation: str = ""

    def score(self, text: str) -> int:
        lowered = text.lower()
        hits = sum(1 for k in self.keywords if re.search(k, lowered))
        if re.search(rf"\b{re.escape(self.entry_point.lower())}\b", lowered):
            hits += 2
        return hits


@cache
def load_tasks() -> tuple[Task, ...]:
    """Every task of the data file, in file order (the heal benchmark's split uses it)."""
    source = importlib.resources.files("selfheal.bench") / "data" / "simulator_tasks.toml"
    rows = tomllib.loads(source.read_text(encoding="utf-8"))["task"]
    return tuple(
        Task(
            id=row["id"],
            entry_point=row["entry_point"],
            request=row["request"],
            keywords=tuple(row["keywords"]),
            reference=row["reference"],
            naive=row["naive"],
            tests=row["tests"],
            validation=row.get("validation", ""),
        )
        for row in rows
    )


TASKS: tuple[Task, ...] = load_tasks()


def find_task(text: str) -> Task | None:
    """The task a request is about, by keyword and function-name matches; None if unknown."""
    best: Task | None = None
    best_score = 0
    for task in TASKS:
        score = task.score(text)
        if score > best_score:
            best, best_score = task, score
    return best


def by_id(task_id: str) -> Task:
    for task in TASKS:
        if task.id == task_id:
            return task
    raise KeyError(task_id)
