"""A programming task the offline model knows."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Task:
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
