"""An optional golden set per task type: inputs (with tests) every candidate is replayed on
beside live traffic, so a prompt cannot win by fixing today's failures and breaking
what must always work. One JSON object a line in ``OPTIMIZER_GOLDEN_DIR/<task_type>.jsonl``:
``{"user_input": ..., "tests": ..., "entry_point": ...}``."""

from __future__ import annotations

import json
from pathlib import Path

from selfheal.core.errors import ConfigurationError
from selfheal.llm.prompts import refine_message
from selfheal.services.optimizer.replay import ReplayItem


def load_golden(directory: Path | None, task_type: str) -> list[ReplayItem]:
    if directory is None:
        return []
    path = directory / f"{task_type}.jsonl"
    if not path.exists():
        return []
    items = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            user_input = str(data["user_input"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigurationError(
                f"{path} line {number}: expected a JSON object with user_input ({exc})"
            ) from exc
        entry_point = data.get("entry_point")
        items.append(
            ReplayItem(
                key=f"golden-{number}",
                origin="golden",
                user_input=user_input,
                refined_input=refine_message(user_input, entry_point),
                tests=data.get("tests"),
                entry_point=entry_point,
            )
        )
    return items
