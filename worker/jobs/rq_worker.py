"""Start one rq worker (``lossdoctor worker``): JSON serializer, short heartbeats, one job at a time.

rq's forking worker runs each job in a child process, the work horse. The parent never touches
``torch.cuda`` (it may import torch to save each horse the import; that does not initialize CUDA), so
CUDA is only ever initialized in a horse, which exits after its one job. Run one worker per GPU, with
``CUDA_VISIBLE_DEVICES`` naming it, for one job at a time per GPU.

When the horse dies without writing an outcome (killed by the kernel's OOM killer, a segfault, rq's
hard kill after the time limit), :class:`LossdoctorWorker` marks the job ``failed`` right away. When the
whole worker dies (SIGKILL, a lost machine), the API's sweeper notices its stale heartbeat instead.

A Redis restart does not stop a worker: its connection retries every command with backoff for up to
``LOSSDOCTOR_REDIS_OUTAGE_SECONDS`` (``worker.jobs.reconnect``), so the horse's writes wait for Redis to come
back and the job carries on; a heartbeat that still cannot be sent is logged and skipped (the horse keeps
running, and the next heartbeat follows ``job_monitoring_interval`` later), so an outage of any length
never ends the worker's loop while it runs a job. An idle worker waits for Redis in rq's own dequeue loop.

A Redis that cannot be reached when the worker *starts* is a configuration error, not an outage: the
worker checks it once (``check_redis``) and ``lossdoctor worker`` says, in one line, which URL it tried and
which setting names it, then exits non-zero.

rq's own registries tell the same story as the job store: the task returns the status the job ended with
(``worker.jobs.task.run``), and a job that ended ``failed`` without raising (a spec error, out of memory) is
handed to rq's failure handling, so it lands in ``FailedJobRegistry`` with the job's error as its
exception text; one that ended ``cancelled`` lands in ``CanceledJobRegistry``, also when its horse was
killed after the cancel's grace (rq would count that one as failed). ``rq info`` and rq-dashboard show it.

A worker runs only lossdoctor's task (``ALLOWED_TASKS``): a job on the queue naming any other function
(anyone who can write to Redis could put one there) is failed without being run, and logged.
"""

from __future__ import annotations

import ctypes
import importlib
import logging
import os
import signal
import socket
import sys
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import Queue, Worker
from rq.executions import Execution
from rq.job import Job, JobStatus
from rq.registry import CanceledJobRegistry, StartedJobRegistry
from rq.serializers import JSONSerializer

from worker.jobs.limits import limit_memory
from worker.jobs.reconnect import patient_redis
from worker.jobs.settings import WorkerSettings
from worker.jobs.store import JobStore
from worker.jobs.task import LEGACY_TASK_PATH, TASK_PATH

#: Seconds rq keeps a cancelled rq job (the job store keeps the record); as ``service.queue.RQ_RESULT_TTL``.
RQ_CANCELED_TTL = 3600

log = logging.getLogger(__name__)

#: Dotted paths of the only functions a worker runs (rq's ``job.func_name``, as ``service.queue`` enqueues it).
ALLOWED_TASKS = frozenset({TASK_PATH, LEGACY_TASK_PATH})

#: Linux prctl option: the signal a process receives when its parent dies.
PR_SET_PDEATHSIG = 1
#: Seconds the start-up check waits for Redis to connect and answer PING.
REDIS_CHECK_TIMEOUT_SECONDS = 3.0


class RedisUnreachable(RuntimeError):
    """Redis did not answer at start; the message is one line naming the URL and its setting."""


def shown_url(url: str) -> str:
    """``url`` with any password replaced by ``***``, for logs."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
        return urlunsplit(parts._replace(netloc=netloc))
    except ValueError:
        return url


def check_redis(url: str, timeout: float = REDIS_CHECK_TIMEOUT_SECONDS) -> None:
    """Raise :class:`RedisUnreachable` unless Redis at ``url`` answers PING within ``timeout`` seconds."""
    where = f"{shown_url(url)} (LOSSDOCTOR_REDIS_URL)"
    try:
        client = Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    except ValueError as exc:
        raise RedisUnreachable(f"LOSSDOCTOR_REDIS_URL is not a Redis URL: {shown_url(url)!r} ({exc})") from None
    try:
        client.ping()
    except RedisError as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise RedisUnreachable(
            f"cannot reach Redis at {where}: {reason}; start Redis there or set LOSSDOCTOR_REDIS_URL "
            "to the URL that `lossdoctor up` prints"
        ) from None
    finally:
        client.close()


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent dies, so a horse never outlives its worker."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # pragma: no cover - prctl is always there on Linux
        log.warning("could not tie the work horse's life to its worker")


class LossdoctorWorker(Worker):
    """rq's forking worker, with horses that die with it, a memory cap on each horse, and jobs failed when
    their horse is killed."""

    #: MiB of address space a horse may add to the worker's (``LOSSDOCTOR_JOB_MEMORY_LIMIT_MB``); 0: no cap.
    job_memory_limit_mb: int = 0

    def setup_work_horse_signals(self) -> None:
        """In the horse: rq's signal setup, dying with the parent worker, and the job's memory cap."""
        super().setup_work_horse_signals()
        die_with_parent()
        cap = limit_memory(self.job_memory_limit_mb)
        if cap is not None:
            log.info("work horse address space capped at %d MiB", cap // (1024 * 1024))

    def execute_job(self, job: Job, queue: Queue) -> None:
        """Run ``job`` in a work horse if its function is lossdoctor's task; fail it unrun otherwise."""
        try:
            func_name = job.func_name
        except Exception as exc:  # a payload that does not even decode names no allowed task
            func_name = f"<unreadable: {type(exc).__name__}>"
        if func_name not in ALLOWED_TASKS:
            log.error("refusing rq job %s: its function %r is not a lossdoctor task", job.id, func_name)
            self.handle_job_failure(
                job, queue=queue, exc_string=f"refused: {func_name!r} is not one of {sorted(ALLOWED_TASKS)}"
            )
            return
        super().execute_job(job, queue)

    def _finalize_success(self, job: Job, queue: Queue, execution: Execution, return_value: Any) -> None:
        """The task returned: rq's success handling if the job succeeded; its failure or cancel handling when
        the task returned ``failed`` or ``cancelled``, so rq's registries agree with the job store."""
        if return_value == "failed":
            job._status = JobStatus.FAILED
            self.handle_execution_ended(job, queue, job.failure_callback_timeout)
            self.handle_job_failure(
                job,
                queue=queue,
                started_job_registry=queue.started_job_registry,
                exc_string=self._stored_error(job),
                execution=execution,
            )
            log.info("job %s ended failed; recorded in rq's failed registry", job.id)
            return
        if return_value == "cancelled":
            self.handle_execution_ended(job, queue, job.success_callback_timeout)
            self.record_cancelled(job, execution)
            log.info("job %s ended cancelled; recorded in rq's canceled registry", job.id)
            return
        super()._finalize_success(job, queue, execution, return_value)

    def handle_job_failure(
        self,
        job: Job,
        queue: Queue,
        started_job_registry: StartedJobRegistry | None = None,
        exc_string: str = "",
        execution: Execution | None = None,
    ) -> None:
        """rq's failure handling, except for a job the store says was cancelled (its horse killed after the
        cancel's grace): that one goes to rq's canceled registry instead."""
        if self._store_status(job) == "cancelled":
            self._stopped_job_id = None
            self.record_cancelled(job, execution)
            return
        super().handle_job_failure(job, queue, started_job_registry, exc_string, execution)

    def record_cancelled(self, job: Job, execution: Execution | None) -> None:
        """Mark the rq job canceled: out of the started registry, into the canceled one, kept ``RQ_CANCELED_TTL`` s."""
        registry = CanceledJobRegistry(
            job.origin, self.connection, job_class=self.job_class, serializer=self.serializer
        )
        with self.connection.pipeline() as pipeline:
            job.set_status(JobStatus.CANCELED, pipeline=pipeline)
            self.cleanup_execution(job, pipeline=pipeline, execution=execution)
            registry.add(job, ttl=RQ_CANCELED_TTL, pipeline=pipeline)
            pipeline.expire(job.key, RQ_CANCELED_TTL)
            pipeline.execute()

    def _store_status(self, job: Job) -> str | None:
        """The job store's status of this rq job's attempt; None if not a lossdoctor job or another attempt."""
        record = self._store_record(job)
        return str(record["status"]) if record is not None else None

    def _store_record(self, job: Job) -> dict[str, Any] | None:
        try:
            job_id, attempt = (list(job.args) + [None, 1])[:2]
        except Exception:  # an undecodable payload is no lossdoctor job
            return None
        if not isinstance(job_id, str):
            return None
        record = JobStore(self.connection).get_job(job_id)
        if record is None or record.get("attempt") != attempt:
            return None
        return record

    def _stored_error(self, job: Job) -> str:
        """``type: message`` of the job's stored error, rq's exception text for a job that failed without raising."""
        record = self._store_record(job) or {}
        error = record.get("error") or {}
        return f"{error.get('type', 'failed')}: {error.get('message', 'the job failed')}"

    def maintain_heartbeats(self, job: Job, execution: Execution) -> None:
        """rq's heartbeat while the horse runs; when Redis cannot be reached it is logged and skipped, so the
        worker keeps monitoring its horse instead of leaving its work loop."""
        try:
            super().maintain_heartbeats(job, execution)
        except (RedisConnectionError, RedisTimeoutError) as exc:
            log.warning("Redis is unreachable (%s); heartbeat skipped, job %s keeps running", exc, job.id)

    def handle_work_horse_killed(self, job: Job, retpid: Any, ret_val: Any, rusage: Any) -> None:
        """The horse ended without an outcome: fail the job with what we know, then let rq record it."""
        super().handle_work_horse_killed(job, retpid, ret_val, rusage)
        job_id, attempt = (list(job.args) + [None, 1])[:2]
        if not isinstance(job_id, str):
            return
        if isinstance(ret_val, int) and os.WIFSIGNALED(ret_val):
            how = f"was killed by signal {signal.Signals(os.WTERMSIG(ret_val)).name}"
        elif isinstance(ret_val, int):
            how = f"exited with status {os.waitstatus_to_exitcode(ret_val)}"
        else:
            how = "was stopped after running far past its time limit"
        message = (
            f"the training process {how} before it could report a result "
            "(out of memory, a crash in native code, or a hard time limit)"
        )
        try:
            JobStore(self.connection).finish(
                job_id, int(attempt), "failed", error={"type": "worker_crashed", "message": message}
            )
        except (RedisConnectionError, RedisTimeoutError) as exc:
            log.error("job %s: could not record that its horse died, Redis is unreachable (%s)", job_id, exc)


def worker_alive_here(settings: WorkerSettings, hostname: str | None = None) -> bool:
    """True when a worker of this host (``hostname``, default this machine's; a container's own) is registered
    on the settings' queue and sent a heartbeat within ``worker_ttl_seconds`` (``lossdoctor worker --check``,
    the compose healthcheck). An idle worker heartbeats every TTL − 15 s, a busy one every few seconds."""
    host = hostname or socket.gethostname()
    timeout = REDIS_CHECK_TIMEOUT_SECONDS
    connection = Redis.from_url(settings.redis_url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        queue = Queue(settings.queue, connection=connection, serializer=JSONSerializer)
        now = datetime.now(UTC)
        for worker in Worker.all(connection=connection, queue=queue):
            beat = worker.last_heartbeat
            if worker.hostname != host or beat is None:
                continue
            if beat.tzinfo is None:
                beat = beat.replace(tzinfo=UTC)
            if (now - beat).total_seconds() <= settings.worker_ttl_seconds:
                return True
        return False
    finally:
        connection.close()


def preload(modules: tuple[str, ...]) -> None:
    """Import ``modules`` now, in the worker, so forked horses start with them loaded."""
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            log.warning("could not preload %s: %s", name, exc)


def build_worker(settings: WorkerSettings, name: str | None = None) -> LossdoctorWorker:
    """A worker on ``settings.queue`` with lossdoctor's heartbeat settings and the JSON serializer."""
    connection = patient_redis(settings.redis_url, settings.redis_outage_seconds)
    queue = Queue(settings.queue, connection=connection, serializer=JSONSerializer)
    worker = LossdoctorWorker(
        [queue],
        connection=connection,
        name=name,
        serializer=JSONSerializer,
        worker_ttl=settings.worker_ttl_seconds,
        job_monitoring_interval=settings.job_monitoring_interval_seconds,
    )
    worker.job_memory_limit_mb = settings.job_memory_limit_mb
    return worker


def run_worker(settings: WorkerSettings | None = None, *, name: str | None = None, burst: bool = False) -> bool:
    """Run one worker until SIGINT/SIGTERM (or, with ``burst``, until the queue is empty).

    Raises :class:`RedisUnreachable` at once, before the slow preload, when Redis does not answer."""
    settings = settings or WorkerSettings()
    check_redis(settings.redis_url)
    preload(settings.preload)
    worker = build_worker(settings, name=name)
    log.info("worker %s listening on queue %r at %s", worker.name, settings.queue, shown_url(settings.redis_url))
    return bool(worker.work(burst=burst, logging_level="INFO"))
