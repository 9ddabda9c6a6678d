"""JobQueue on Redis with RQ: the web process enqueues a run id; `flask accounts-sync worker`
processes (on any machine) carry the runs out (see `rq_worker`).

The job names its function by import path, so the web process never imports the worker's
code. One job id per run, so the same run is not queued twice while its job waits; should a
run be delivered twice anyway (recovery hands a lost run over again), the worker that takes
the run first works on it and the other does nothing (RunJob).
"""

from __future__ import annotations

import logging
import time

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue
from rq.exceptions import DuplicateJobError, NoSuchJobError
from rq.job import Job, JobStatus

from ...domain.errors import GatewayUnavailable

log = logging.getLogger(__name__)

JOB_FUNCTION = "accounts_sync.adapters.jobs.rq_worker.run_sync"
DEFAULT_QUEUE = "accounts-sync"
DEFAULT_JOB_TIMEOUT = 6 * 3600  # a run paced at Xero's 60 calls a minute can take a while
_FINISHED = {JobStatus.FINISHED, JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED}
_WAITING = {JobStatus.QUEUED, JobStatus.DEFERRED, JobStatus.SCHEDULED, JobStatus.CREATED}


class JobQueueUnavailable(GatewayUnavailable):
    code = "job_queue_unavailable"

    def __init__(self, run_id: int) -> None:
        super().__init__(
            f"Sync run {run_id} is saved but could not be handed to the workers: Redis cannot be "
            f"reached. Start Redis; the run is handed over again by the next worker or by "
            f"'flask accounts-sync recover'."
        )


class RqJobQueue:
    def __init__(
        self,
        redis_url: str,
        queue_name: str = DEFAULT_QUEUE,
        job_timeout: int = DEFAULT_JOB_TIMEOUT,
        connection: Redis | None = None,
    ) -> None:
        self.connection = connection or Redis.from_url(
            redis_url, socket_connect_timeout=2, socket_timeout=10, health_check_interval=30
        )
        self.queue = Queue(queue_name, connection=self.connection, default_timeout=job_timeout)
        self.job_timeout = job_timeout

    @property
    def name(self) -> str:
        return self.queue.name

    def job_id(self, run_id: int) -> str:
        # The queue's name is part of the id: deployments sharing a Redis never collide.
        return f"{self.queue.name}-run-{run_id}"

    def enqueue(self, run_id: int) -> None:
        job_id = self.job_id(run_id)
        try:
            existing = self._status(job_id)
            if existing in _WAITING:
                return  # its job is still waiting for a worker
            if existing is not None:
                # Ended, or started by a worker that never took the run (it died): a new job.
                Job.fetch(job_id, connection=self.connection).delete()
            self.queue.enqueue_call(
                JOB_FUNCTION,
                args=(run_id,),
                job_id=job_id,
                timeout=self.job_timeout,
                result_ttl=86_400,
                failure_ttl=7 * 86_400,
                description=f"Accounts Sync run {run_id}",
                unique=True,
            )
        except DuplicateJobError:
            return  # enqueued by someone else a moment ago
        except RedisError as exc:
            log.error("could not enqueue run %s: %s", run_id, type(exc).__name__)
            raise JobQueueUnavailable(run_id) from None

    def wait(self, run_id: int, timeout: float | None = None, poll: float = 0.05) -> str | None:
        """For tests and scripts: block until the run's job has ended; its final status."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            status = self._status(self.job_id(run_id))
            if status is None or status in _FINISHED:
                return status.value if status is not None else None
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"run {run_id} did not finish within {timeout} seconds")
            time.sleep(poll)

    def pending(self) -> int:
        return self.queue.count

    def _status(self, job_id: str) -> JobStatus | None:
        try:
            return Job.fetch(job_id, connection=self.connection).get_status(refresh=False)
        except NoSuchJobError:
            return None
