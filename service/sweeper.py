"""The sweeper: a background task of the API that keeps jobs from staying ``running`` forever.

Every ``sweep_interval_seconds`` one API process (a short Redis lock elects it) looks at:

1. each job whose record says ``running``: if the worker that took it has sent no heartbeat for
   ``worker_dead_after_seconds`` (killed with SIGKILL, its machine lost), the job is queued again as a
   new attempt while it has retries left (``lost_job_retries``), else failed with the reason. If rq
   itself already ended the attempt without the task writing an outcome, the job is failed too.
2. each attempt rq still counts as started whose job has ended (cancelled, or failed by this sweeper)
   more than ``cancel_kill_after_seconds`` ago: its work horse is stopped, so compute is given back.
3. each job whose record says ``queued`` but whose attempt is neither waiting on the rq queue nor
   started (the API or Redis died between storing the job and enqueuing it, or Redis lost the last
   second of writes): once it has been seen missing for ``queued_grace_seconds``, it is put on the queue
   again, up to ``lost_enqueue_retries`` times, then failed with the reason (``enqueue_lost``).

With a 2 s busy heartbeat, 15 s dead-after and a 2 s sweep, a dead worker's job moves within ~19 s.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime

from redis.exceptions import RedisError
from starlette.concurrency import run_in_threadpool

from service.core.config import Settings
from service.queue import JobQueue, rq_job_id
from worker.jobs.store import TERMINAL, JobStore, Record, now_iso, seconds_between

log = logging.getLogger(__name__)

#: rq statuses of an attempt that has ended on rq's side.
RQ_ENDED = frozenset({"finished", "failed", "stopped", "canceled"})
#: Seconds a running record may lag behind rq's ended attempt before it is failed (the task's own
#: final write normally lands before rq ends the attempt).
RQ_ENDED_GRACE_SECONDS = 5.0


class Sweeper:
    """One sweep at a time over the store and the queue; see the module docstring."""

    def __init__(self, store: JobStore, queue: JobQueue, settings: Settings) -> None:
        self.store, self.queue, self.settings = store, queue, settings
        #: rq job id → monotonic time at which this sweeper first saw that queued attempt missing from rq.
        self._missing_since: dict[str, float] = {}

    def _lead(self) -> bool:
        """Whether this process sweeps this round (one API replica per interval does)."""
        ttl_ms = max(100, int(self.settings.sweep_interval_seconds * 900))
        return self.store.try_lock("sweeper", ttl_ms)

    def sweep(self) -> None:
        """One pass over running jobs and started attempts."""
        if not self._lead():
            return
        for job_id in self.store.running_ids():
            record = self.store.get_job(job_id)
            if record is not None and record["status"] == "running":
                self._check_running(record)
        for job_id, attempt in self.queue.started_attempts():
            record = self.store.get_job(job_id)
            if record is not None and record["status"] in TERMINAL and record.get("finished_at"):
                age = seconds_between(record["finished_at"], now_iso())
                if age > self.settings.cancel_kill_after_seconds and record["attempt"] == attempt:
                    log.info("stopping the work horse of ended job %s", job_id)
                    self.queue.stop(job_id, attempt)
        self._reconcile_queued()

    def _reconcile_queued(self) -> None:
        """Put queued jobs that are missing from rq back on the queue (see the module docstring, 3.)."""
        now, seen = time.monotonic(), {}
        present = self.queue.present_ids()  # read before the records: a job enqueued after looks missing once
        for job_id in self.store.queued_ids():
            record = self.store.get_job(job_id)
            if record is None or record["status"] != "queued":
                continue
            rq_id = rq_job_id(job_id, int(record["attempt"]))
            if rq_id in present:
                continue
            seen[rq_id] = first = self._missing_since.get(rq_id, now)
            if now - first >= self.settings.queued_grace_seconds:
                self._enqueue_missing(record, now - first)
                seen.pop(rq_id)
        self._missing_since = seen

    def _enqueue_missing(self, record: Record, missing_for: float) -> None:
        job_id, attempt = record["id"], int(record["attempt"])
        tries = int(record.get("enqueues", 1))
        reason = f"attempt {attempt} was not on the queue for {missing_for:.0f} s (enqueued {tries} time(s) so far)"
        if tries > self.settings.lost_enqueue_retries:
            limit = self.settings.lost_enqueue_retries
            message = f"{reason}, so it is failed (LOSSDOCTOR_LOST_ENQUEUE_RETRIES is {limit})"
            error = {"type": "enqueue_lost", "message": message}
            if self.store.finish(job_id, attempt, "failed", error=error, expect=("queued",)).applied:
                log.warning("job %s failed: %s", job_id, message)
            return
        if self.store.enqueue_again(job_id, attempt, reason).applied:
            log.warning("job %s: %s; putting it on the queue again", job_id, reason)
            self.queue.enqueue(job_id, attempt, int(record["timeout_seconds"]))

    def _check_running(self, record: Record) -> None:
        job_id, attempt = record["id"], int(record["attempt"])
        worker_name = (record.get("worker") or {}).get("name")
        age = self.queue.heartbeat_age(worker_name) if worker_name else float("inf")
        if age > self.settings.worker_dead_after_seconds:
            shown = "never" if age == float("inf") else f"{age:.0f} s ago"
            reason = (
                f"worker {worker_name} stopped sending heartbeats (last {shown}) while running "
                f"attempt {attempt}: it was killed or lost its machine"
            )
            self._lost(record, reason)
            return
        rq_status = self.queue.rq_status(job_id, attempt)
        started = record.get("started_at") or now_iso()
        if rq_status in RQ_ENDED and seconds_between(started, now_iso()) > RQ_ENDED_GRACE_SECONDS:
            error = {
                "type": "worker_crashed",
                "message": f"the worker ended attempt {attempt} as {rq_status} without reporting a result",
            }
            self.store.finish(job_id, attempt, "failed", error=error)

    def _lost(self, record: Record, reason: str) -> None:
        job_id, attempt = record["id"], int(record["attempt"])
        if attempt <= self.settings.lost_job_retries:
            if self.store.requeue(job_id, attempt, reason).applied:
                log.warning("job %s: %s; queued again as attempt %d", job_id, reason, attempt + 1)
                self.queue.enqueue(job_id, attempt + 1, int(record["timeout_seconds"]))
            return
        message = f"{reason}; the job was already retried {attempt - 1} time(s), so it is failed"
        if self.store.finish(job_id, attempt, "failed", error={"type": "worker_lost", "message": message}).applied:
            log.warning("job %s failed: %s", job_id, message)


async def run_forever(sweeper: Sweeper, interval: float) -> None:
    """Sweep every ``interval`` seconds until cancelled; a failed sweep is logged and the loop goes on."""
    while True:
        await asyncio.sleep(interval)
        try:
            await run_in_threadpool(sweeper.sweep)
        except RedisError as exc:  # Redis restarting: said once per sweep, without a traceback
            log.warning("sweep skipped: Redis is unreachable (%s)", exc)
        except Exception:
            log.exception("sweep failed at %s", datetime.now(UTC).isoformat())
