"""The Scheduler port on Redis: RQ's own scheduler runs RunDueSchedules on the workers.

`plan(at)` puts a job on RQ's ScheduledJobRegistry (`Queue.enqueue_at`); every worker is started
with RQ's scheduler, of which RQ lets one per queue hold its lock and move due jobs onto the
queue; a worker then calls `rq_worker.run_due`, which fires what is due and plans the next
call. Job ids are named after the moment, so the same moment planned by several processes is
one job; a job run twice fires nothing twice (the schedule store's compare-and-set).

Why RQ's built-in scheduler (RQ >= 1.2) and not RQ's cron (`rq cron`, RQ >= 2.5), rq-scheduler
or APScheduler: the schedules are edited at run time in Settings and are read in the host's
zone with its DST rules, so the moments come from our domain, not from cron strings evaluated
in the server's zone and registered when a process starts; the built-in scheduler is part of
the workers already deployed (no extra process, leader elected by a Redis lock, jobs kept in
Redis across restarts of the workers). rq-scheduler is a separate, older package with its own
process, superseded by the built-in one; APScheduler's job stores would fire once per process
unless one process is made the only scheduler, which is the problem to solve.

If Redis loses the planned jobs (restarted without persistence), every worker plans again
when it starts and at each of its maintenance passes, and each web process at its first
request.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue

log = logging.getLogger(__name__)

TICK_FUNCTION = "accounts_sync.adapters.jobs.rq_worker.run_due"


class RqScheduler:
    def __init__(self, redis_url: str, queue_name: str, connection: Redis | None = None) -> None:
        self.connection = connection or Redis.from_url(
            redis_url, socket_connect_timeout=2, socket_timeout=10, health_check_interval=30)
        self.queue = Queue(queue_name, connection=self.connection)

    def job_id(self, at: datetime) -> str:
        return f"{self.queue.name}-due-{int(at.timestamp())}"

    def plan(self, at: datetime) -> None:
        try:
            self.queue.enqueue_at(
                at.astimezone(UTC), TICK_FUNCTION, job_id=self.job_id(at), result_ttl=3600,
                failure_ttl=7 * 86400, job_timeout=600,
                description="Accounts Sync: start the scheduled syncs that are due")
        except RedisError as exc:
            # The schedules are saved; the next worker start or maintenance pass plans again.
            log.warning("could not plan scheduled syncs in Redis: %s", type(exc).__name__)

    def start(self) -> None:
        """A call soon (this process just started: heal a plan Redis may have lost)."""
        self.plan(datetime.now(UTC).replace(microsecond=0))

    def planned(self) -> list[str]:
        """For tests and `schedule list`: the planned calls' job ids."""
        from rq.registry import ScheduledJobRegistry

        return list(ScheduledJobRegistry(queue=self.queue).get_job_ids())
