"""Submitting and cancelling jobs, and the public shape of a job; the routes stay thin over this.

A job goes to the store first (``queued``, with its event) and to the queue second. If Redis fails
between the two (or the API dies there), the job stays ``queued`` and the sweeper's reconciler puts it on
the queue once its grace has passed (``service.sweeper``); the request still answers ``202``, since the
job is stored. Any other enqueue error fails the job at once.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import time
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from service.core.config import Settings
from service.core.problems import Problem
from service.limits import check_data, check_spec
from service.queue import JobQueue
from service.report.links import report_url
from service.webhooks import check_webhook
from worker.contract.spec import JobSpec
from worker.data.validate import check_runnable
from worker.jobs.store import TERMINAL, JobStore, QueueFull, Record, finite, new_job_id

log = logging.getLogger(__name__)

#: The fields of a job as the API shows it (CONTRACT.md), in this order.
PUBLIC_FIELDS = (
    "id",
    "name",
    "status",
    "progress",
    "spec",
    "result",
    "error",
    "created_at",
    "started_at",
    "finished_at",
)
#: Seconds a repeated request waits for the job its Idempotency-Key's first request is still creating.
IDEMPOTENCY_WAIT_SECONDS = 2.0
#: Seconds a client is told to wait (``Retry-After``) when its key has too many jobs queued.
QUEUE_FULL_RETRY_SECONDS = 10
#: Inline data fields that listings and the 202 answer leave out unless asked (``?include=spec``).
INLINE_BULK = ("x", "y")
#: Spec fields where a non-finite number means something (a missing value in the data); refused elsewhere.
NON_FINITE_ALLOWED = (("data", "x"), ("data", "y"))


def lean_spec(spec: dict[str, Any] | None) -> tuple[dict[str, Any] | None, list[str]]:
    """``spec`` without the bulk of inline data (``data.x``, ``data.y``), and the paths left out."""
    data = (spec or {}).get("data")
    if not isinstance(data, dict) or data.get("source") != "inline":
        return spec, []
    omitted = [f"spec.data.{key}" for key in INLINE_BULK if key in data]
    kept = {key: value for key, value in data.items() if key not in INLINE_BULK}
    return {**(spec or {}), "data": kept}, omitted


def public_job(record: Record, *, with_result: bool = True, full_spec: bool = True) -> dict[str, Any]:
    """The job object of the contract; without ``result`` in listings (``with_result=False``); with
    ``full_spec=False``, without a spec's inline ``data.x``/``data.y``, named in ``omitted``."""
    job = {field: record.get(field) for field in PUBLIC_FIELDS}
    if not with_result:
        del job["result"]
    if not full_spec:
        job["spec"], omitted = lean_spec(job["spec"])
        if omitted:
            job["omitted"] = omitted
    cleaned: dict[str, Any] = finite(job)  # a NaN in inline data serves as null, never as invalid JSON
    return cleaned


class JobView:
    """Turns records into the contract's job objects with their ``report_url`` under one base URL (the
    request's, or ``LOSSDOCTOR_PUBLIC_URL`` outside a request; empty: the link is a path)."""

    def __init__(self, settings: Settings, base_url: str = "") -> None:
        self.settings, self.base_url = settings, base_url

    def __call__(self, record: Record, *, with_result: bool = True, full_spec: bool = True) -> dict[str, Any]:
        """The job object of ``record`` with its ``report_url`` (see ``public_job`` for the flags)."""
        job = public_job(record, with_result=with_result, full_spec=full_spec)
        job["report_url"] = report_url(record["id"], self.settings, self.base_url)
        return job


def _non_finite(value: Any, loc: tuple[str | int, ...]) -> tuple[str | int, ...] | None:
    """The location of the first NaN or infinite number in ``value``, outside ``NON_FINITE_ALLOWED``."""
    if loc[:2] in NON_FINITE_ALLOWED:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return loc
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        found = _non_finite(item, (*loc, key))
        if found is not None:
            return found
    return None


def refuse_non_finite(spec: JobSpec) -> None:
    """Refuse ``NaN`` or ``Infinity`` (which Python's JSON parser accepts) in a setting of the spec."""
    loc = _non_finite(spec.model_dump(), ())
    if loc is not None:
        message = f"{'.'.join(str(p) for p in loc)} is not a finite number; JSON numbers must be finite"
        error = {"loc": ["body", *loc], "msg": message, "type": "finite_number"}
        raise Problem(422, "validation-error", message, errors=[error])


def body_hash(spec: JobSpec) -> str:
    """SHA-256 of the validated spec in canonical JSON: equal for bodies that mean the same job."""
    canonical = json.dumps(spec.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def time_limit(spec: JobSpec, settings: Settings) -> int:
    """The job's hard time limit in seconds: its budget rounded up plus the configured margin."""
    return math.ceil(spec.budget_seconds) + settings.job_timeout_margin_seconds


def _earlier_job(store: JobStore, owner: str, job_id: str) -> Record:
    """The job bound to an Idempotency-Key, waiting briefly while its first request creates it."""
    deadline = time.monotonic() + IDEMPOTENCY_WAIT_SECONDS
    while True:
        record = store.get_job(job_id, owner)
        if record is not None:
            return record
        if time.monotonic() > deadline:
            raise Problem(
                409,
                "idempotency-key-in-use",
                "a request with this Idempotency-Key is still being processed; retry shortly",
            )
        time.sleep(0.05)


def submit_job(
    spec: JobSpec,
    *,
    store: JobStore,
    queue: JobQueue,
    settings: Settings,
    owner: str,
    idempotency_key: str | None = None,
) -> tuple[Record, bool]:
    """Check, store and enqueue a job; returns its record and whether it was created now (not repeated)."""
    refuse_non_finite(spec)
    check_spec(spec, settings)
    if spec.webhook is not None:
        check_webhook(spec.webhook.url, settings)
    raw = check_runnable(spec, fetch_upload=lambda upload_id: store.get_upload_bytes(upload_id, owner))
    check_data(spec, raw, settings)
    job_id = new_job_id()
    if idempotency_key is not None:
        digest = body_hash(spec)
        earlier = store.claim_idempotency_key(owner, idempotency_key, digest, job_id, settings.idempotency_ttl_seconds)
        if earlier is not None:
            if earlier["body_hash"] != digest:
                raise Problem(
                    409,
                    "idempotency-key-reused",
                    "this Idempotency-Key was already used with a different request body; use a new key for a new job",
                )
            return _earlier_job(store, owner, earlier["job_id"]), False
    limit = time_limit(spec, settings)
    try:
        record = store.create_job(
            job_id,
            spec.model_dump(mode="json"),
            owner=owner,
            retention_seconds=settings.retention_seconds,
            timeout_seconds=limit,
            max_queued=settings.max_queued_jobs_per_key,
        )
    except (RedisConnectionError, RedisTimeoutError):
        if idempotency_key is not None:  # else a retry with this key would wait for a job that never came
            with contextlib.suppress(RedisConnectionError, RedisTimeoutError):
                store.release_idempotency_key(owner, idempotency_key, job_id)
        raise
    except QueueFull as exc:
        if idempotency_key is not None:
            store.release_idempotency_key(owner, idempotency_key, job_id)
        raise Problem(
            429,
            "too-many-queued-jobs",
            f"this key already has {exc.count} jobs waiting; the limit is {exc.limit} "
            "(LOSSDOCTOR_MAX_QUEUED_JOBS_PER_KEY): wait for some to start, or cancel some",
            headers={"Retry-After": str(QUEUE_FULL_RETRY_SECONDS)},
        ) from exc
    try:
        queue.enqueue(job_id, 1, limit)
    except (RedisConnectionError, RedisTimeoutError) as exc:
        log.warning("job %s is stored but not yet on the queue (%s); the sweeper will queue it", job_id, exc)
    except Exception as exc:
        error = {"type": "enqueue_failed", "message": f"the job could not be queued: {exc}"}
        store.finish(job_id, None, "failed", error=error, expect=("queued",))
        raise
    return record, True


def cancel_job(record: Record, *, store: JobStore, queue: JobQueue) -> Record:
    """Cancel a queued job at once, or a running one (its worker stops within about a second)."""
    if record["status"] in TERMINAL:
        raise Problem(
            409,
            "job-already-ended",
            f"job {record['id']} already ended as {record['status']}; there is nothing to cancel",
        )
    store.request_cancel(record["id"])
    update = store.finish(record["id"], None, "cancelled", expect=("queued", "running"))
    if not update.applied:
        status = update.record["status"] if update.record else "gone"
        raise Problem(409, "job-already-ended", f"job {record['id']} ended as {status} before it could be cancelled")
    assert update.record is not None
    queue.remove(record["id"], update.record["attempt"])
    return update.record
