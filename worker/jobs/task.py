"""The rq task: run one lossdoctor job in the work horse and write its outcome to the job store.

Enqueued by dotted path (``"worker.jobs.task.run"``) with JSON arguments ``(job_id, attempt)``, so the API
never imports this module's heavy dependencies. The engine (and with it torch) is imported inside
:func:`run`, i.e. only in the work horse, which is also the only process that may initialize CUDA.

Outcomes:

    engine returns a result        → succeeded, with the result (a typed Result, stored as strict JSON)
    engine raises SpecError        → failed, error type "spec_error" (the spec cannot run on its data)
    engine raises Cancelled        → cancelled (the API has normally marked it so already)
    rq's time limit fires          → failed, error type "timeout"; re-raised so rq records it too
    an allocation fails            → failed, error type "out_of_memory", saying what to make smaller
    anything else                  → failed with the exception's type and message; re-raised

Whatever the engine raises, the job ends with a status and the worker goes on to the next job: the
engine runs in the work horse, a child process that exits after this one job.
"""

from __future__ import annotations

import importlib
import logging
import os
import socket
import time
from collections.abc import Callable
from typing import Any

from redis import Redis
from rq import get_current_job
from rq.timeouts import JobTimeoutException

from worker.contract.errors import Cancelled, SpecError
from worker.contract.result import Result
from worker.contract.spec import JobSpec
from worker.jobs.limits import is_out_of_memory
from worker.jobs.settings import WorkerSettings
from worker.jobs.store import JobStore, now_iso

log = logging.getLogger(__name__)

#: The dotted path the API enqueues.
TASK_PATH = "worker.jobs.task.run"
#: The path jobs were enqueued under before the worker was split into layers; ``worker/task.py`` keeps
#: it importable for one release so that jobs already queued still run.
LEGACY_TASK_PATH = "worker.task.run"
#: Seconds between writes of the engine's ``progress`` reports to the job record, at least; the
#: last one is always written before the job ends.
PROGRESS_EVERY_SECONDS = 0.5
#: The fields of a ``progress`` report that go into the job's ``progress`` (beside ``done``/``total``).
PROGRESS_FIELDS = ("epochs_done", "epochs_total", "elapsed_seconds", "eta_seconds", "baseline")

EngineFn = Callable[..., Result | dict[str, Any]]


def load_engine(path: str) -> EngineFn:
    """Import the engine function named by a dotted path such as ``worker.engine.job.run_job``."""
    module_name, _, attr = path.rpartition(".")
    engine: EngineFn = getattr(importlib.import_module(module_name), attr)
    return engine


def cancelled_exception_types() -> tuple[type[BaseException], ...]:
    """The exceptions that end a job ``cancelled``: the contract's ``Cancelled``, which engines raise."""
    return (Cancelled,)


class ProgressWriter:
    """The engine's events into the job store: each event appended to the job's events, and the
    ``progress`` reports (by epoch: never an event, they would crowd the events out) merged into the
    job's ``progress`` at most every ``interval`` seconds; ``flush`` writes the one held back."""

    def __init__(
        self,
        store: JobStore,
        job_id: str,
        attempt: int,
        interval: float = PROGRESS_EVERY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store, self.job_id, self.attempt, self.interval, self.clock = store, job_id, attempt, interval, clock
        self._written_at: float | None = None
        self._held: dict[str, Any] | None = None

    def __call__(self, event: dict[str, Any]) -> None:
        """Store ``event``: a ``progress`` report when its time has come, any other at once."""
        if event.get("type") == "progress":
            self._held = {k: event[k] for k in PROGRESS_FIELDS if k in event}
            now = self.clock()
            if self._written_at is None or now - self._written_at >= self.interval:
                self._write(None)
            return
        self._write(dict(event))

    def flush(self) -> None:
        """Write the progress report held back, if any."""
        if self._held is not None:
            self._write(None)

    def _write(self, event: dict[str, Any] | None) -> None:
        held, self._held = self._held, None
        if held is not None:
            self._written_at = self.clock()
        at = now_iso()

        def mutate(r: dict[str, Any]) -> list[dict[str, Any]] | None:
            if r["status"] != "running" or r["attempt"] != self.attempt:
                return None
            progress = dict(r.get("progress") or {})
            if held is not None:
                progress.update(held)
            if event is not None and isinstance(event.get("done"), int) and isinstance(event.get("total"), int):
                progress.update(done=event["done"], total=event["total"])
            r["progress"] = progress
            return [] if event is None else [{**event, "at": at}]

        self.store.update(self.job_id, mutate)


class StopPoller:
    """``should_stop`` for the engine: True once the job's cancel flag is up, its record left ``running``
    or moved on to another attempt (the sweeper queued it again while Redis or this worker was out of
    reach), or the worker that forked this process died. Looks at Redis at most every ``interval`` seconds."""

    def __init__(self, store: JobStore, job_id: str, interval: float, attempt: int | None = None) -> None:
        self.store, self.job_id, self.interval, self.attempt = store, job_id, interval, attempt
        self.parent_pid = os.getppid()
        self._checked_at = 0.0
        self._stop = False

    def __call__(self) -> bool:
        """Whether the engine should stop now."""
        if self._stop:
            return True
        now = time.monotonic()
        if now - self._checked_at < self.interval:
            return False
        self._checked_at = now
        if os.getppid() != self.parent_pid:
            self._stop = True
        elif self.store.cancel_requested(self.job_id):
            self._stop = True
        else:
            record = self.store.get_job(self.job_id)
            self._stop = (
                record is None
                or record["status"] != "running"
                or (self.attempt is not None and record["attempt"] != self.attempt)
            )
        return self._stop


def _connection(settings: WorkerSettings) -> Redis:
    """The rq job's own connection inside a worker; a fresh one from settings otherwise (tests)."""
    job = get_current_job()
    if job is not None:
        return job.connection
    return Redis.from_url(settings.redis_url)


def run(job_id: str, attempt: int = 1) -> str:
    """Run attempt ``attempt`` of job ``job_id`` to its end; returns the status it ended with."""
    settings = WorkerSettings()
    store = JobStore(_connection(settings))
    worker = {
        "name": os.environ.get("RQ_WORKER_ID"),
        "pid": os.getppid(),
        "horse_pid": os.getpid(),
        "host": socket.gethostname(),
    }
    started = store.mark_running(job_id, attempt, worker)
    if not started.applied:
        status = started.record["status"] if started.record else "missing"
        log.info("job %s attempt %d not started: it is %s", job_id, attempt, status)
        return status
    record = started.record
    assert record is not None
    owner = record["owner"]

    on_event = ProgressWriter(store, job_id, attempt)

    def fetch_upload(upload_id: str) -> bytes | None:
        return store.get_upload_bytes(upload_id, owner=owner)

    cancelled = cancelled_exception_types()
    try:
        spec = JobSpec.model_validate(record["spec"])
        engine = load_engine(settings.engine)
        # the engine's Result (or, from an engine that returns plain dicts, the dict validated into one)
        result = Result.of(
            engine(
                spec,
                on_event=on_event,
                fetch_upload=fetch_upload,
                should_stop=StopPoller(store, job_id, settings.cancel_poll_seconds, attempt),
            )
        )
    except SpecError as exc:
        on_event.flush()
        return _end(store, job_id, attempt, "failed", error={"type": "spec_error", "message": exc.message})
    except JobTimeoutException:
        limit = record["timeout_seconds"]
        message = (
            f"the job ran past its time limit of {limit} s (budget_seconds "
            f"{record['spec'].get('budget_seconds')} plus a safety margin) and was stopped"
        )
        _end(store, job_id, attempt, "failed", error={"type": "timeout", "message": message})
        raise
    except Exception as exc:
        if cancelled and isinstance(exc, cancelled):
            return _end(store, job_id, attempt, "cancelled")
        if is_out_of_memory(exc):
            log.warning("job %s ran out of memory: %s", job_id, exc)
            return _end(store, job_id, attempt, "failed", error=out_of_memory_error(exc, settings))
        log.exception("job %s failed", job_id)
        message = f"{type(exc).__name__}: {exc}"
        _end(store, job_id, attempt, "failed", error={"type": "internal_error", "message": message})
        raise
    on_event.flush()
    return _end(store, job_id, attempt, "succeeded", result=result)


def out_of_memory_error(exc: BaseException, settings: WorkerSettings) -> dict[str, str]:
    """The error of a job whose allocation failed: what happened and what to make smaller."""
    cap = (
        f"the {settings.job_memory_limit_mb} MiB a job may use on this worker (LOSSDOCTOR_JOB_MEMORY_LIMIT_MB)"
        if settings.job_memory_limit_mb
        else "the memory this worker has"
    )
    detail = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
    message = (
        f"the job needed more memory than {cap} and stopped ({type(exc).__name__}: {detail}); "
        "use a smaller model (fewer or narrower layers), a smaller training.batch_size or less data"
    )
    return {"type": "out_of_memory", "message": message}


def _end(store: JobStore, job_id: str, attempt: int, status: str, **fields: Any) -> str:
    """Write the terminal status unless someone (a cancel, the sweeper) ended the job first."""
    update = store.finish(job_id, attempt, status, **fields)
    if update.applied or update.record is None:
        return status
    log.info("job %s ended %s but was already %s", job_id, status, update.record["status"])
    return str(update.record["status"])
