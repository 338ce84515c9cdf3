"""The queue client: the API's only contact with rq.

Jobs go on the queue by dotted path (``worker.jobs.task.run``) with JSON arguments ``(job_id, attempt)``;
the rq job id is ``<job_id>-<attempt>``, so a job queued again after a lost worker is a new rq job
and the lost attempt can never be confused with it. This module never imports the worker's task or
engine, so the API process never imports torch.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from redis import Redis
from rq import Queue, Worker
from rq.command import send_stop_job_command
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from worker.jobs.store import text

log = logging.getLogger(__name__)

#: The rq task that runs a job (in ``worker/jobs/task.py``).
TASK_PATH = "worker.jobs.task.run"
#: Seconds rq keeps its own copy of a finished rq job; the job store keeps the record and result.
RQ_RESULT_TTL = 3600


def rq_job_id(job_id: str, attempt: int) -> str:
    """The rq job id of attempt ``attempt`` of job ``job_id``."""
    return f"{job_id}-{attempt}"


@dataclass(frozen=True)
class WorkerInfo:
    """A registered rq worker and the age of its last heartbeat in seconds."""

    name: str
    heartbeat_age: float


class JobQueue:
    """Enqueue, dequeue-before-start, stop and inspect lossdoctor jobs on one rq queue."""

    def __init__(self, redis: Redis, name: str) -> None:
        self.redis = redis
        self.queue = Queue(name, connection=redis, serializer=JSONSerializer)

    def enqueue(self, job_id: str, attempt: int, timeout_seconds: int) -> None:
        """Put attempt ``attempt`` of ``job_id`` on the queue with a hard time limit in seconds."""
        self.queue.enqueue(
            TASK_PATH,
            job_id,
            attempt,
            job_id=rq_job_id(job_id, attempt),
            job_timeout=timeout_seconds,
            result_ttl=RQ_RESULT_TTL,
            failure_ttl=RQ_RESULT_TTL,
            description=f"lossdoctor job {job_id}",
        )

    def remove(self, job_id: str, attempt: int) -> None:
        """Take a queued attempt off the queue into rq's canceled registry (no-op once a worker took it: the
        worker records it canceled when the task sees the job cancelled)."""
        try:
            job = Job.fetch(rq_job_id(job_id, attempt), connection=self.redis, serializer=JSONSerializer)
        except NoSuchJobError:
            return
        if job.get_status(refresh=False) in (JobStatus.QUEUED, JobStatus.DEFERRED, JobStatus.SCHEDULED):
            with contextlib.suppress(InvalidJobOperation):
                job.cancel()

    def stop(self, job_id: str, attempt: int) -> None:
        """Ask the worker running this attempt to kill its work horse."""
        with contextlib.suppress(NoSuchJobError, InvalidJobOperation):
            send_stop_job_command(self.redis, rq_job_id(job_id, attempt), serializer=JSONSerializer)

    def rq_status(self, job_id: str, attempt: int) -> str | None:
        """rq's status of the attempt (``queued``, ``started``, ``finished``, ``failed`` …), None if gone."""
        try:
            job = Job.fetch(rq_job_id(job_id, attempt), connection=self.redis, serializer=JSONSerializer)
        except NoSuchJobError:
            return None
        status = job.get_status(refresh=False)
        return str(status.value) if status is not None else None

    def started_attempts(self) -> list[tuple[str, int]]:
        """(job id, attempt) of every rq job a worker has started and not yet ended."""
        found = []
        for rq_id in self.queue.started_job_registry.get_job_ids():
            job_id, _, attempt = rq_id.rpartition("-")
            if job_id and attempt.isdigit():
                found.append((job_id, int(attempt)))
        return found

    def present_ids(self) -> set[str]:
        """rq job ids waiting on the queue or started by a worker (``<job_id>-<attempt>``)."""
        return set(self.queue.get_job_ids()) | set(self.queue.started_job_registry.get_job_ids())

    def depth(self) -> int:
        """Number of jobs waiting on the queue."""
        return int(self.queue.count)

    def workers(self) -> list[WorkerInfo]:
        """The workers registered on this queue, with their heartbeat ages."""
        now = datetime.now(UTC)
        found = []
        for worker in Worker.all(connection=self.redis, queue=self.queue):
            beat = worker.last_heartbeat
            if beat is not None and beat.tzinfo is None:
                beat = beat.replace(tzinfo=UTC)
            age = (now - beat).total_seconds() if beat is not None else float("inf")
            found.append(WorkerInfo(worker.name, age))
        return found

    def heartbeat_age(self, worker_name: str) -> float:
        """Seconds since worker ``worker_name`` last sent a heartbeat; infinite if it is not registered."""
        raw = self.redis.hget(Worker.redis_worker_namespace_prefix + worker_name, "last_heartbeat")
        if raw is None:
            return float("inf")
        beat = datetime.fromisoformat(text(raw).replace("Z", "+00:00"))
        if beat.tzinfo is None:
            beat = beat.replace(tzinfo=UTC)
        return (datetime.now(UTC) - beat).total_seconds()
