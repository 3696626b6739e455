"""Where the offline model finds the tasks it can solve: the benchmark's data
(``selfheal.bench.catalog``), not this package."""

from __future__ import annotations

from selfheal.bench.catalog import TASKS, Task, by_id, find_task

__all__ = ["TASKS", "Task", "by_id", "find_task"]
