"""The embedded job queue: a small thread pool inside the web process (no services needed)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

log = logging.getLogger(__name__)


class InProcessJobQueue:
    def __init__(self, run: Callable[[int], object], workers: int = 2) -> None:
        self._run = run
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="accounts-sync")
        self.futures: dict[int, Future] = {}

    def enqueue(self, run_id: int) -> None:
        self.futures[run_id] = self._pool.submit(self._safe_run, run_id)

    def _safe_run(self, run_id: int) -> None:
        try:
            self._run(run_id)
        except Exception:
            # The run keeps its in_flight records; the next run or `recover` reconciles them.
            log.exception("sync run %s stopped unexpectedly", run_id)

    def wait(self, run_id: int, timeout: float | None = None) -> None:
        """For tests and the CLI: block until a run queued here has finished."""
        future = self.futures.get(run_id)
        if future is not None:
            future.result(timeout)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True)
