"""The job store: job records, their events, cancel flags, the webhook outbox, idempotency keys, uploads
and counters, in Redis (see ``base`` for the keys and the rules every section keeps)."""

from __future__ import annotations

from worker.jobs.store.base import (
    CANCEL_FLAG_TTL,
    DEFAULT_OWNER,
    DURATION_BUCKETS,
    KEY_PREFIX,
    STATUSES,
    TERMINAL,
    Event,
    Mutation,
    QueueFull,
    Record,
    StoreBase,
    Update,
    diagnosed_cause,
    dumps,
    finite,
    is_dataset_id,
    is_job_id,
    is_model_id,
    new_job_id,
    new_record,
    now_iso,
    seconds_between,
    text,
)
from worker.jobs.store.counters import Counters
from worker.jobs.store.idempotency import IdempotencyKeys
from worker.jobs.store.records import JobRecords
from worker.jobs.store.transitions import JobTransitions
from worker.jobs.store.uploads import Uploads
from worker.jobs.store.webhooks import WebhookOutbox


class JobStore(JobRecords, JobTransitions, WebhookOutbox, IdempotencyKeys, Uploads, Counters):
    """Job records, their events, cancel flags, the webhook outbox, idempotency keys, uploads and counters."""


__all__ = [
    "CANCEL_FLAG_TTL",
    "DEFAULT_OWNER",
    "DURATION_BUCKETS",
    "KEY_PREFIX",
    "STATUSES",
    "TERMINAL",
    "Event",
    "JobStore",
    "Mutation",
    "QueueFull",
    "Record",
    "StoreBase",
    "Update",
    "diagnosed_cause",
    "dumps",
    "finite",
    "is_dataset_id",
    "is_job_id",
    "is_model_id",
    "new_job_id",
    "new_record",
    "now_iso",
    "seconds_between",
    "text",
]
