"""The prompt history as a source of candidates: earlier versions that did well live.

A version qualifies when it served at least ``history_min_requests`` requests with a pass
rate of at least ``history_min_pass_rate`` and better than the incumbent's; the best
``history_candidates`` of them are replayed and compared like any proposed prompt (and
the reflective search may refine them), so a revert is proven on today's inputs too.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from selfheal.core.config import OptimizerSettings
from selfheal.db import execution_logs
from selfheal.db import prompts as prompt_repo
from selfheal.db.models import PromptStatus


@dataclass(frozen=True, slots=True)
class HistoryCandidate:
    version: int
    content: str
    pass_rate: float
    requests: int

    @property
    def rationale(self) -> str:
        return (
            f"version {self.version} from the prompt history "
            f"(live pass rate {self.pass_rate:.0%} over {self.requests} requests)"
        )


async def history_candidates(
    session: AsyncSession, *, task_type: str, incumbent_version: int, settings: OptimizerSettings
) -> list[HistoryCandidate]:
    """Earlier versions worth replaying, best live pass rate first."""
    if settings.history_candidates <= 0:
        return []
    stats = await execution_logs.version_stats(session, task_type=task_type)
    incumbent_rate = stats.get(incumbent_version, {}).get("pass_rate", 0.0)
    versions = await prompt_repo.list_versions(session, task_type=task_type)
    incumbent_content = next(
        (p.content.strip() for p in versions if p.version == incumbent_version), ""
    )
    found: list[HistoryCandidate] = []
    seen = {incumbent_content}
    for prompt in versions:
        live = stats.get(prompt.version)
        if (
            prompt.version == incumbent_version
            or prompt.status == PromptStatus.REJECTED
            or live is None
            or live["requests"] < settings.history_min_requests
            or live["pass_rate"] < settings.history_min_pass_rate
            or live["pass_rate"] <= incumbent_rate
            or prompt.content.strip() in seen
        ):
            continue
        seen.add(prompt.content.strip())
        found.append(
            HistoryCandidate(
                prompt.version, prompt.content, live["pass_rate"], int(live["requests"])
            )
        )
    found.sort(key=lambda c: (-c.pass_rate, -c.version))
    return found[: settings.history_candidates]
