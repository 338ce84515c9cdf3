"""The job store in Redis, shared by the API (which creates and cancels jobs) and the worker task: what every
section has in common (ids, timestamps, strict JSON, key names) and the one seam they all reach Redis by.

Torch-free and free of any web framework. Every status change is one optimistic transaction
(WATCH/MULTI) that also appends the matching event, so a job's events always agree with its status and
two writers (a worker finishing, a user cancelling, the API's sweeper) can never both win.

Keys, under the prefix ``lossdoctor``::

    job:<id>              JSON record (see ``new_record``); expires ``retention_seconds`` after it ends
    job:<id>:events       list of JSON events, oldest first; expires with the record
    job:<id>:cancel       present once a cancel was asked for; the task polls it
    jobs:<owner>          sorted set of job ids scored by creation order (newest first in listings)
    jobs:<owner>:<status> the same, for the owner's jobs in one status (listing by status reads only these);
                          moved in the transaction that changes the status; jobs:<owner>:indexed marks an
                          owner whose jobs from before this index existed were added to it
    queued:<owner>        set of ids of the owner's queued jobs (the per-key queue limit counts it)
    queued                set of ids of every queued job (the sweeper's reconciler walks it)
    running               set of ids of running jobs (the sweeper's work list)
    idem:<owner>:<key>    an Idempotency-Key's body hash and job id
    dataset:<id>          canonical .npz bytes of an upload; dataset:<id>:meta its description
    model:<id>            an uploaded ONNX file's bytes; model:<id>:meta its description
    webhooks:due          sorted set of ids of ended jobs whose webhook is to be sent, scored by when (Unix s)
    webhooks:attempts     hash: job id → delivery attempts made so far
    stats:status          current number of jobs per status (the ended ones only ever grow: counters)
    stats:duration        histogram of run times (``DURATION_BUCKETS``), plus ``sum`` and ``count``;
                          stats:duration:<status> the same for the jobs that ended in that status
    stats:cause           succeeded jobs per diagnosed cause (``diagnosed_cause``), counted as they end

Ids from outside (a URL path) are checked here, in one place: a job id is ``job_`` and 24 hex digits, a data
set id ``ds_`` and 24 hex digits (``is_job_id``, ``is_dataset_id``). Any other id reads as absent, so it can
never name another key (``job_…:events`` is a list, not a record) nor tell whether such a key exists.

Records carry an ``owner``: the tenant of the API key that created them (``"public"`` when the service
runs without keys); reads take the caller's owner and treat another owner's job as absent.

The store is one class, ``JobStore`` (``worker.jobs.store``), made of one section a module, each reaching
Redis only through ``StoreBase.redis`` and ``StoreBase._key``:

    records.py      creating, reading and listing jobs, and their events
    transitions.py  every status change as one transaction with its events; cancel flags
    webhooks.py     the outbox of webhook deliveries
    idempotency.py  Idempotency-Key bindings
    uploads.py      uploaded data sets and models
    counters.py     locks, the health ping and the counters behind /metrics

Every JSON value written is strict JSON (RFC 8259): a non-finite float (NaN, inf) becomes ``null``, so
a result full of diverged losses still reads back and serves as valid JSON.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from redis import Redis

#: Prefix of every key this store writes.
KEY_PREFIX = "lossdoctor"
#: Owner of jobs and data sets created without an API key.
DEFAULT_OWNER = "public"
#: Statuses in which a job will not change any more.
TERMINAL = frozenset({"succeeded", "failed", "cancelled"})
STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
#: Upper bounds, in seconds, of the job run-time histogram buckets.
DURATION_BUCKETS = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
#: Seconds a cancel flag lives; longer than any job's time limit.
CANCEL_FLAG_TTL = 2 * 3600

#: The ids ``new_job_id`` and ``put_dataset`` make; nothing else names a job or a data set.
JOB_ID_PATTERN = re.compile(r"job_[0-9a-f]{24}")
DATASET_ID_PATTERN = re.compile(r"ds_[0-9a-f]{24}")
MODEL_ID_PATTERN = re.compile(r"mdl_[0-9a-f]{24}")

Record = dict[str, Any]
Event = dict[str, Any]
#: A change to a record: returns the events it causes, or None to leave the record as it is.
Mutation = Callable[[Record], list[Event] | None]


class QueueFull(Exception):
    """The owner already has ``limit`` jobs queued; nothing was stored."""

    def __init__(self, owner: str, count: int, limit: int) -> None:
        super().__init__(f"{owner} has {count} jobs queued; the limit is {limit}")
        self.owner, self.count, self.limit = owner, count, limit


def finite(value: Any) -> Any:
    """``value`` with every non-finite float (NaN, inf, -inf) inside it replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def dumps(value: Any) -> str:
    """Strict JSON text of ``value``: non-finite floats become ``null`` (never ``NaN`` or ``Infinity``)."""
    try:
        return json.dumps(value, allow_nan=False)
    except ValueError:
        return json.dumps(finite(value), allow_nan=False)


def now_iso() -> str:
    """The current UTC time, ISO 8601 with milliseconds and a ``Z``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def seconds_between(start_iso: str, end_iso: str) -> float:
    """Seconds from one ``now_iso`` timestamp to another."""
    parse = datetime.fromisoformat
    return (parse(end_iso.replace("Z", "+00:00")) - parse(start_iso.replace("Z", "+00:00"))).total_seconds()


def text(value: bytes | str) -> str:
    """A Redis reply as text (the client returns bytes)."""
    return value.decode() if isinstance(value, bytes) else str(value)


def diagnosed_cause(result: dict[str, Any] | None) -> str:
    """What a succeeded job's diagnosis found, for counting: its ``primary_cause``, else ``healthy`` or
    ``inconclusive``."""
    diagnosis = (result or {}).get("diagnosis") or {}
    if diagnosis.get("primary_cause"):
        return str(diagnosis["primary_cause"])
    return "healthy" if diagnosis.get("healthy") else "inconclusive"


def new_job_id() -> str:
    """A fresh job id: ``job_`` and 24 hex digits (valid as an rq job id, too)."""
    return "job_" + uuid.uuid4().hex[:24]


def is_job_id(value: str) -> bool:
    """Whether ``value`` has the form of a job id (``job_`` and 24 lowercase hex digits)."""
    return JOB_ID_PATTERN.fullmatch(value) is not None


def is_dataset_id(value: str) -> bool:
    """Whether ``value`` has the form of a data set id (``ds_`` and 24 lowercase hex digits)."""
    return DATASET_ID_PATTERN.fullmatch(value) is not None


def is_model_id(value: str) -> bool:
    """Whether ``value`` has the form of a model id (``mdl_`` and 24 lowercase hex digits)."""
    return MODEL_ID_PATTERN.fullmatch(value) is not None


def new_record(job_id: str, spec: dict[str, Any], owner: str, retention_seconds: int, timeout_seconds: int) -> Record:
    """A new job's record, ``queued`` at attempt 1 and created now; ``seq`` (its index score) is added
    when it is stored."""
    return {
        "id": job_id,
        "owner": owner,
        "name": spec.get("name"),
        "status": "queued",
        "progress": {"done": 0, "total": 0},
        "spec": spec,
        "result": None,
        "error": None,
        "created_at": now_iso(),
        "started_at": None,
        "finished_at": None,
        "attempt": 1,
        "worker": None,
        "retention_seconds": retention_seconds,
        "timeout_seconds": timeout_seconds,
    }


@dataclass(frozen=True)
class Update:
    """What an attempted change did: ``applied`` or not, and the record as it now is (None: no such job)."""

    applied: bool
    record: Record | None


class StoreBase:
    """The seam every section of the store shares: a bytes-returning Redis client and the key prefix."""

    def __init__(self, redis: Redis, prefix: str = KEY_PREFIX) -> None:
        """``redis`` must return bytes (``decode_responses=False``), as rq needs too."""
        self.redis = redis
        self.prefix = prefix

    def _key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))
