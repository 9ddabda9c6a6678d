"""The embedded scheduler: one thread in the web process calls RunDueSchedules when something is
due (and every `poll` seconds, to see schedules another process saved and do the housekeeping).

Started lazily (the first request, or `accounts_sync.web.start_scheduler(app)`), and again in a
process forked after it started (the thread does not survive a fork). Several web processes,
each with its thread, are safe: the schedule store fires each due moment once.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import datetime

log = logging.getLogger(__name__)


class InProcessScheduler:
    def __init__(self, tick: Callable[[], object], poll: float = 60.0) -> None:
        self._tick = tick
        self.poll = float(poll)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._next: float | None = None
        self._thread: threading.Thread | None = None
        self._pid = 0
        self.ticks = 0

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and self._pid == os.getpid()

    def start(self) -> None:
        with self._lock:
            if self.running:
                return
            self._stop.clear()
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._loop, name="accounts-sync-scheduler",
                                            daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def plan(self, at: datetime) -> None:
        moment = at.timestamp()
        with self._lock:
            if self._next is None or moment < self._next:
                self._next = moment
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                self._next = None
            self._wake.clear()
            try:
                self._tick()
            except Exception:  # the loop must outlive any one tick
                log.exception("scheduled syncs: a tick failed")
            self.ticks += 1
            poll_until = time.time() + self.poll
            while not self._stop.is_set():
                with self._lock:
                    target = min(self._next if self._next is not None else poll_until, poll_until)
                remaining = target - time.time()
                if remaining <= 0:
                    break
                self._wake.wait(remaining)
                self._wake.clear()


class NoScheduler:
    """ACCOUNTS_SYNC_SCHEDULER=off: nothing fires by itself; cron calls `accounts-sync run-due`."""

    def plan(self, at: datetime) -> None:
        pass

    def start(self) -> None:
        pass
