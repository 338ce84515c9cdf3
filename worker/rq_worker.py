"""Start one rq worker (``lossdoctor worker``): JSON serializer, short heartbeats, one job at a time.

rq's forking worker runs each job in a child process, the work horse. The parent never touches
``torch.cuda`` (it may import torch to save each horse the import; that does not initialize CUDA), so
CUDA is only ever initialized in a horse, which exits after its one job. Run one worker per GPU, with
``CUDA_VISIBLE_DEVICES`` naming it, for one job at a time per GPU.

When the horse dies without writing an outcome (killed by the kernel's OOM killer, a segfault, rq's
hard kill after the time limit), :class:`LossdoctorWorker` marks the job ``failed`` right away. When the
whole worker dies (SIGKILL, a lost machine), the API's sweeper notices its stale heartbeat instead.

A Redis restart does not stop a worker: its connection retries every command with backoff for up to
``LOSSDOCTOR_REDIS_OUTAGE_SECONDS`` (``worker.reconnect``), so the horse's writes wait for Redis to come
back and the job carries on; a heartbeat that still cannot be sent is logged and skipped (the horse keeps
running, and the next heartbeat follows ``job_monitoring_interval`` later), so an outage of any length
never ends the worker's loop while it runs a job. An idle worker waits for Redis in rq's own dequeue loop.

A worker runs only lossdoctor's task (``ALLOWED_TASKS``): a job on the queue naming any other function
(anyone who can write to Redis could put one there) is failed without being run, and logged.
"""

from __future__ import annotations

import ctypes
import importlib
import logging
import os
import signal
import sys
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import Queue, Worker
from rq.executions import Execution
from rq.job import Job
from rq.serializers import JSONSerializer

from worker.limits import limit_memory
from worker.reconnect import patient_redis
from worker.settings import WorkerSettings
from worker.store import JobStore
from worker.task import TASK_PATH

log = logging.getLogger(__name__)

#: Dotted paths of the only functions a worker runs (rq's ``job.func_name``, as ``service.queue`` enqueues it).
ALLOWED_TASKS = frozenset({TASK_PATH})

#: Linux prctl option: the signal a process receives when its parent dies.
PR_SET_PDEATHSIG = 1


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
    """Run one worker until SIGINT/SIGTERM (or, with ``burst``, until the queue is empty)."""
    settings = settings or WorkerSettings()
    preload(settings.preload)
    worker = build_worker(settings, name=name)
    log.info("worker %s listening on queue %r at %s", worker.name, settings.queue, settings.redis_url)
    return bool(worker.work(burst=burst, logging_level="INFO"))
