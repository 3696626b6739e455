"""The event-driven optimizer: notices crossed thresholds within seconds, debounced, and
watches canaries and fresh promotions."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from selfheal.db.models import RunTrigger
from selfheal.db.notify import CHANNEL, listen_failures
from selfheal.services.optimizer import rollout
from selfheal.services.optimizer.deps import OptimizerDeps
from selfheal.services.optimizer.job import (
    due_failures,
    failure_backoff,
    run_optimization,
    task_types,
)
from selfheal.services.optimizer.report import RunReport

log = logging.getLogger(__name__)


class Watcher:
    def __init__(self, deps: OptimizerDeps) -> None:
        self.deps = deps
        self.wake = asyncio.Event()
        self.reports: list[RunReport] = []
        self._stopping = False
        self._backing_off: set[str] = set()

    def poke(self, task_type: str | None = None) -> None:
        """Something failed: look now instead of at the next tick."""
        self.wake.set()

    def stop(self) -> None:
        self._stopping = True
        self.wake.set()

    async def tick(self) -> list[RunReport]:
        """One pass over every task type: monitor rollouts, then optimize what is due."""
        settings = self.deps.settings
        done: list[RunReport] = []
        async with self.deps.sessionmaker() as session:
            names = await task_types(session)
            due: list[str] = []
            for name in names:
                decided = await rollout.monitor(session, task_type=name, settings=settings)
                if decided is not None:
                    await session.commit()
                    done.append(RunReport.of(decided))
                count, _ = await due_failures(session, task_type=name, settings=settings)
                if count < settings.failure_threshold:
                    continue
                wait = await failure_backoff(session, task_type=name, settings=settings)
                if wait > 0:
                    self._note_backoff(name, wait)
                    continue
                due.append(name)
        if due and settings.debounce_s > 0:
            # A burst of failures makes one run: let the burst land first.
            await asyncio.sleep(settings.debounce_s)
        for name in due:
            self._backing_off.discard(name)
            done.append(
                await run_optimization(self.deps, task_type=name, trigger=RunTrigger.WATCHER)
            )
        self.reports.extend(done)
        return done

    def _note_backoff(self, task_type: str, wait: float) -> None:
        if task_type not in self._backing_off:  # once per wait, not once a tick
            self._backing_off.add(task_type)
            log.warning(
                "optimizer runs for %s keep failing; next attempt in %.0f s", task_type, wait
            )

    async def run(self) -> None:
        url = str(self.deps.engine.url.render_as_string(hide_password=False))
        async with listen_failures(url, self.poke) as listening:
            if listening:
                log.info(
                    "optimizer watcher: listening for failure notifications (LISTEN %s)", CHANNEL
                )
            await self._loop()

    async def _loop(self) -> None:
        interval = self.deps.settings.watch_interval_s
        log.info(
            "optimizer watcher started (every %.1f s, threshold %d failures in %d min)",
            interval,
            self.deps.settings.failure_threshold,
            self.deps.settings.lookback_minutes,
        )
        while not self._stopping:
            started = time.monotonic()
            try:
                await self.tick()
            except Exception:  # the watcher must outlive any single bad tick
                log.exception("optimizer watcher tick failed")
            self.wake.clear()
            remaining = interval - (time.monotonic() - started)
            if remaining > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), timeout=remaining)
