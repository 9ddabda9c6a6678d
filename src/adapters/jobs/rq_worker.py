"""The RQ side of the job queue: the job function and the workers that call it.

`flask accounts-sync worker` builds the app (and so the container) in the worker process,
installs the container's RunJob as the runner, and starts an RQ worker. RQ then calls
`run_sync(run_id)` by import path for every job: in a forked child per job (the default,
`Worker`: a run that leaks memory or hangs ends with its child) or in the worker itself
(`SimpleWorker`). Tests and embedded uses run `ThreadWorker`s in threads, each with its own
runner (its own container), as separate machines would.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from redis import Redis
from rq import Queue, SimpleWorker, Worker
from rq.timeouts import TimerDeathPenalty
from rq.worker import BaseWorker

log = logging.getLogger(__name__)

Runner = Callable[[int], Any]
Ticker = Callable[[], Any]

_runner: Runner | None = None
_ticker: Ticker | None = None
_local = threading.local()


class NoRunnerInstalled(RuntimeError):
    def __init__(self) -> None:
        super().__init__(
            "This RQ worker does not know how to carry out Accounts Sync runs: start workers "
            "with 'flask accounts-sync worker', not a bare 'rq worker'."
        )


def install_runner(runner: Runner | None, ticker: Ticker | None = None) -> None:
    """The process-wide runner and ticker (inherited by RQ's forked children)."""
    global _runner, _ticker
    _runner = runner
    _ticker = ticker


def run_sync(run_id: int) -> str:
    """The RQ job: carry out one sync run; returns the run's final state for RQ's result."""
    runner = getattr(_local, "runner", None) or _runner
    if runner is None:
        raise NoRunnerInstalled()
    run = runner(int(run_id))
    state = getattr(run, "state", None)
    return str(getattr(state, "value", state))


def run_due() -> str:
    """The RQ job RQ's scheduler enqueues at a planned moment: start the scheduled syncs that
    are due (RunDueSchedules), which plans the next call."""
    ticker = getattr(_local, "ticker", None) or _ticker
    if ticker is None:
        raise NoRunnerInstalled()
    result = ticker()
    fired = getattr(result, "fired", ())
    return f"{len(fired)} fired"


class ScheduledWorker(Worker):
    """RQ's forking worker that also plans the scheduled syncs at each maintenance pass (every
    10 minutes), so a plan Redis lost is made again while the worker runs."""

    def __init__(self, *args: Any, on_maintenance: Callable[[], Any] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.on_maintenance = on_maintenance

    def run_maintenance_tasks(self) -> None:
        super().run_maintenance_tasks()
        if self.on_maintenance is not None:
            try:
                self.on_maintenance()
            except Exception:
                log.exception("could not plan the scheduled syncs")


class ScheduledSimpleWorker(SimpleWorker, ScheduledWorker):
    pass


class ThreadWorker(SimpleWorker):
    """A SimpleWorker that can run in any thread: no signal handlers (only the main thread may
    install them), job timeouts by timer, and a runner of its own for the jobs it performs."""

    death_penalty_class = TimerDeathPenalty

    def __init__(self, *args: Any, runner: Runner | None = None, ticker: Ticker | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.runner = runner
        self.ticker = ticker

    def _install_signal_handlers(self) -> None:
        pass

    def work(self, *args: Any, **kwargs: Any) -> bool:
        previous = getattr(_local, "runner", None), getattr(_local, "ticker", None)
        _local.runner, _local.ticker = self.runner, self.ticker
        try:
            return super().work(*args, **kwargs)
        finally:
            _local.runner, _local.ticker = previous


def build_worker(
    redis_url: str,
    queue_name: str,
    *,
    mode: str = "fork",
    runner: Runner | None = None,
    name: str | None = None,
    connection: Redis | None = None,
    ticker: Ticker | None = None,
    on_maintenance: Callable[[], Any] | None = None,
) -> BaseWorker:
    """An RQ worker on the queue. mode: 'fork' (a child per job), 'simple' (in this process,
    main thread) or 'thread' (in any thread, with `runner`). `ticker` carries out the
    scheduled-syncs job (RunDueSchedules); `on_maintenance` is called at each maintenance pass."""
    connection = connection or Redis.from_url(redis_url, health_check_interval=30)
    queue = Queue(queue_name, connection=connection)
    if mode == "thread":
        return ThreadWorker([queue], connection=connection, name=name, runner=runner, ticker=ticker)
    if runner is not None or ticker is not None:
        install_runner(runner, ticker)
    worker_class = {"fork": ScheduledWorker, "simple": ScheduledSimpleWorker}[mode]
    return worker_class([queue], connection=connection, name=name, on_maintenance=on_maintenance)
