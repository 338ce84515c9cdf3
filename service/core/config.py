"""The API's settings: one ``Settings`` object per process, read once from ``LOSSDOCTOR_*`` variables.

Every default is a documented constant below; the README's settings table lists the same names.
``LOSSDOCTOR_REDIS_URL`` and ``LOSSDOCTOR_QUEUE`` are shared with the workers (``worker.jobs.settings``).
"""

from __future__ import annotations

import secrets
from functools import lru_cache

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from service.core.security import parse_keys, webhook_key
from worker.jobs.settings import DEFAULT_QUEUE, DEFAULT_REDIS_URL
from worker.jobs.store import DEFAULT_OWNER

#: Seconds a finished job (record, result, events) stays in Redis: 7 days.
DEFAULT_RETENTION_SECONDS = 7 * 24 * 3600
#: Seconds an uploaded data set stays in Redis: 7 days.
DEFAULT_DATASET_RETENTION_SECONDS = 7 * 24 * 3600
#: Seconds an uploaded ONNX model stays in Redis: 7 days.
DEFAULT_MODEL_RETENTION_SECONDS = 7 * 24 * 3600
#: Largest ONNX model upload accepted, in bytes: 64 MiB (room for 10 million float32 weights and the graph).
DEFAULT_MAX_MODEL_BYTES = 64 * 1024 * 1024
#: Seconds added to a job's ``budget_seconds`` for its hard time limit (data loading, diagnosis).
DEFAULT_JOB_TIMEOUT_MARGIN_SECONDS = 30
#: Seconds an ``Idempotency-Key`` stays bound to its job: 24 hours.
DEFAULT_IDEMPOTENCY_TTL_SECONDS = 24 * 3600
#: Seconds between two sweeps for jobs whose worker is gone.
DEFAULT_SWEEP_INTERVAL_SECONDS = 2.0
#: A worker whose last heartbeat is older than this many seconds is gone (idle workers beat every ~5 s,
#: busy ones every 2 s; see ``worker.jobs.settings``).
DEFAULT_WORKER_DEAD_AFTER_SECONDS = 15.0
#: How many times a job whose worker was lost is queued again before it is failed.
DEFAULT_LOST_JOB_RETRIES = 1
#: Seconds a queued job may be missing from the rq queue (and not started) before the sweeper puts it
#: back: longer than the gap between storing a job and enqueuing it in one request.
DEFAULT_QUEUED_GRACE_SECONDS = 10.0
#: How many times the sweeper puts a queued job that went missing from the rq queue back before it fails it.
DEFAULT_LOST_ENQUEUE_RETRIES = 3
#: Seconds after a cancel at which a job still running on a worker is stopped by killing its work horse.
DEFAULT_CANCEL_KILL_AFTER_SECONDS = 5.0
#: Largest data set upload accepted, in bytes: 64 MiB.
DEFAULT_MAX_UPLOAD_BYTES = 64 * 1024 * 1024
#: Jobs per page in ``GET /v1/jobs`` when ``limit`` is not given, and the most a page may hold.
DEFAULT_PAGE_LIMIT = 20
MAX_PAGE_LIMIT = 100
#: Seconds between reloads of the report page of a job that has not ended.
DEFAULT_REPORT_REFRESH_SECONDS = 2
#: API keys as comma-separated ``TENANT:SHA256HEX`` entries (``lossdoctor keys new TENANT``); empty: no keys.
DEFAULT_API_KEYS = ""
#: Largest request body in bytes on every route but the upload (which has ``max_upload_bytes``): 4 MiB,
#: room for about 200,000 inline numbers in a job spec.
DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024
#: Most samples (rows) in a job's data set or an upload.
DEFAULT_MAX_DATASET_ROWS = 1_000_000
#: Most values per sample (features; channels x height x width for images).
DEFAULT_MAX_DATASET_FEATURES = 100_000
#: Most values in a whole data set (rows x features): 10 million, 40 MB as float32.
DEFAULT_MAX_DATASET_VALUES = 10_000_000
#: Most trainable parameters in a job's model: 10 million, 40 MB as float32 (about 160 MB with Adam's state).
DEFAULT_MAX_MODEL_PARAMETERS = 10_000_000
#: Most nodes in an uploaded ONNX graph: 5,000 (a 6-layer transformer export holds about 1,000); a
#: larger graph is refused before any check walks it.
DEFAULT_MAX_MODEL_NODES = 5_000
#: Most samples x epochs a job may ask for (its baseline's passes over single samples).
DEFAULT_MAX_SAMPLE_EPOCHS = 100_000_000
#: Largest ``budget_seconds`` a job may ask for: 10 minutes.
DEFAULT_MAX_BUDGET_SECONDS = 600.0
#: Jobs of one key (tenant) that may wait on the queue at once; more are refused with 429.
DEFAULT_MAX_QUEUED_JOBS_PER_KEY = 100
#: Secret that signs webhook deliveries: ``whsec_`` and base64 (Standard Webhooks); empty: specs with a
#: ``webhook`` are refused (422), since a delivery could not be signed.
DEFAULT_WEBHOOK_SECRET = ""
#: Whether webhook URLs may resolve to loopback, private, link-local or other non-public addresses.
DEFAULT_WEBHOOK_ALLOW_PRIVATE = False
#: Delivery attempts of one webhook before the service gives up (the first one included).
DEFAULT_WEBHOOK_MAX_ATTEMPTS = 8
#: Seconds before the second attempt; each later wait doubles (5, 10, 20, … s: about 10 minutes in all).
DEFAULT_WEBHOOK_RETRY_SECONDS = 5.0
#: Seconds one delivery may take (connect and answer) before it counts as failed.
DEFAULT_WEBHOOK_TIMEOUT_SECONDS = 10.0
#: Seconds between two looks for deliveries that are due.
DEFAULT_WEBHOOK_POLL_SECONDS = 1.0
#: Secret that signs report links (``report_url`` tokens); empty: a random one per API process, so links
#: from one API process do not open on another. Set it when several API processes serve one Redis.
DEFAULT_REPORT_SECRET = ""
#: Seconds a signed report link stays valid: 1 hour.
DEFAULT_REPORT_LINK_SECONDS = 3600
#: Public base URL of the API (``https://lossdoctor.example.com``) for links outside a request (webhook
#: deliveries); empty: those links are paths. Links in API answers use the request's own base URL.
DEFAULT_PUBLIC_URL = ""
#: Jobs of all tenants that may wait on the rq queue; past it, new submissions are refused with 503 and
#: Retry-After before their body is read (load shedding). 0 turns it off.
DEFAULT_MAX_QUEUE_DEPTH = 1000
#: Seconds a client refused for a full queue is told to wait (``Retry-After``).
DEFAULT_QUEUE_FULL_RETRY_SECONDS = 30


class Settings(BaseSettings):
    """Settings of the API process (``lossdoctor api``, ``uvicorn service.main:app``)."""

    model_config = SettingsConfigDict(env_prefix="LOSSDOCTOR_", extra="ignore")

    redis_url: str = Field(default=DEFAULT_REDIS_URL, description="Redis URL shared by the API and the workers.")
    queue: str = Field(default=DEFAULT_QUEUE, description="rq queue name shared with the workers.")
    default_owner: str = Field(default=DEFAULT_OWNER, description="Owner of jobs and data sets sent without a key.")
    retention_seconds: int = Field(default=DEFAULT_RETENTION_SECONDS, ge=60, description="Finished-job TTL (s).")
    dataset_retention_seconds: int = Field(
        default=DEFAULT_DATASET_RETENTION_SECONDS, ge=60, description="Upload TTL (s)."
    )
    model_retention_seconds: int = Field(
        default=DEFAULT_MODEL_RETENTION_SECONDS, ge=60, description="Uploaded model TTL (s)."
    )
    max_model_bytes: int = Field(default=DEFAULT_MAX_MODEL_BYTES, ge=1, description="Largest model upload (bytes).")
    job_timeout_margin_seconds: int = Field(
        default=DEFAULT_JOB_TIMEOUT_MARGIN_SECONDS,
        ge=0,
        description="Added to budget_seconds for the time limit (s).",
    )
    idempotency_ttl_seconds: int = Field(
        default=DEFAULT_IDEMPOTENCY_TTL_SECONDS, ge=1, description="Key binding TTL (s)."
    )
    sweep_interval_seconds: float = Field(
        default=DEFAULT_SWEEP_INTERVAL_SECONDS, gt=0.0, description="Sweep period (s)."
    )
    worker_dead_after_seconds: float = Field(
        default=DEFAULT_WORKER_DEAD_AFTER_SECONDS,
        gt=0.0,
        description="Heartbeat age at which a worker is gone (s).",
    )
    lost_job_retries: int = Field(default=DEFAULT_LOST_JOB_RETRIES, ge=0, description="Requeues after a lost worker.")
    queued_grace_seconds: float = Field(
        default=DEFAULT_QUEUED_GRACE_SECONDS, ge=0.0, description="Grace before a job missing from rq is queued (s)."
    )
    lost_enqueue_retries: int = Field(
        default=DEFAULT_LOST_ENQUEUE_RETRIES, ge=0, description="Re-enqueues of a job missing from rq."
    )
    cancel_kill_after_seconds: float = Field(
        default=DEFAULT_CANCEL_KILL_AFTER_SECONDS,
        ge=0.0,
        description="Grace before a cancelled horse is killed (s).",
    )
    max_upload_bytes: int = Field(default=DEFAULT_MAX_UPLOAD_BYTES, ge=1, description="Largest upload (bytes).")
    page_limit: int = Field(default=DEFAULT_PAGE_LIMIT, ge=1, le=MAX_PAGE_LIMIT, description="Default page size.")
    report_refresh_seconds: int = Field(
        default=DEFAULT_REPORT_REFRESH_SECONDS,
        ge=1,
        description="Report page reload period while a job runs (s).",
    )
    sweeper: bool = Field(default=True, description="Run the lost-job sweeper in this API process.")
    api_keys: str = Field(default=DEFAULT_API_KEYS, description="TENANT:HASH entries, comma-separated.")
    max_body_bytes: int = Field(default=DEFAULT_MAX_BODY_BYTES, ge=1024, description="Largest body (bytes).")
    max_dataset_rows: int = Field(default=DEFAULT_MAX_DATASET_ROWS, ge=2, description="Most samples.")
    max_dataset_features: int = Field(default=DEFAULT_MAX_DATASET_FEATURES, ge=1, description="Most values/sample.")
    max_dataset_values: int = Field(default=DEFAULT_MAX_DATASET_VALUES, ge=2, description="Most values in all.")
    max_model_parameters: int = Field(default=DEFAULT_MAX_MODEL_PARAMETERS, ge=1, description="Most parameters.")
    max_model_nodes: int = Field(default=DEFAULT_MAX_MODEL_NODES, ge=1, description="Most nodes in an ONNX graph.")
    max_sample_epochs: int = Field(default=DEFAULT_MAX_SAMPLE_EPOCHS, ge=1, description="Most samples x epochs.")
    max_budget_seconds: float = Field(default=DEFAULT_MAX_BUDGET_SECONDS, gt=0.0, description="Largest budget (s).")
    max_queued_jobs_per_key: int = Field(
        default=DEFAULT_MAX_QUEUED_JOBS_PER_KEY, ge=1, description="Queued jobs per key."
    )
    report_secret: str = Field(default=DEFAULT_REPORT_SECRET, description="Signs report links.")
    report_link_seconds: int = Field(
        default=DEFAULT_REPORT_LINK_SECONDS, ge=1, description="Lifetime of a signed report link (s)."
    )
    public_url: str = Field(default=DEFAULT_PUBLIC_URL, description="Base URL for links in webhooks.")
    webhook_secret: str = Field(default=DEFAULT_WEBHOOK_SECRET, description="whsec_ + base64; signs webhooks.")
    webhook_allow_private: bool = Field(
        default=DEFAULT_WEBHOOK_ALLOW_PRIVATE, description="Allow webhook URLs on loopback or private addresses."
    )
    webhook_max_attempts: int = Field(default=DEFAULT_WEBHOOK_MAX_ATTEMPTS, ge=1, description="Delivery attempts.")
    webhook_retry_seconds: float = Field(
        default=DEFAULT_WEBHOOK_RETRY_SECONDS, gt=0.0, description="First retry wait (s), doubling."
    )
    webhook_timeout_seconds: float = Field(
        default=DEFAULT_WEBHOOK_TIMEOUT_SECONDS, gt=0.0, description="One delivery's time limit (s)."
    )
    webhook_poll_seconds: float = Field(
        default=DEFAULT_WEBHOOK_POLL_SECONDS, gt=0.0, description="Period of the delivery loop (s)."
    )
    webhooks: bool = Field(default=True, description="Run the webhook delivery loop in this API process.")

    @field_validator("webhook_secret")
    @classmethod
    def _secret_parses(cls, value: str) -> str:
        if value:
            webhook_key(value)  # a malformed secret stops the process at start
        return value

    @field_validator("report_secret")
    @classmethod
    def _report_secret(cls, value: str) -> str:
        return value or secrets.token_urlsafe(32)  # links then open only on this process

    max_queue_depth: int = Field(
        default=DEFAULT_MAX_QUEUE_DEPTH, ge=0, description="Jobs waiting on the queue past which POSTs shed (0: off)."
    )
    queue_full_retry_seconds: int = Field(
        default=DEFAULT_QUEUE_FULL_RETRY_SECONDS, ge=1, description="Retry-After of a shed submission (s)."
    )

    @field_validator("api_keys")
    @classmethod
    def _keys_parse(cls, value: str) -> str:
        parse_keys(value)  # a malformed entry stops the process at start, naming the entry
        return value

    @property
    def keys_required(self) -> bool:
        """True when API keys are configured, so every /v1 request needs one."""
        return bool(parse_keys(self.api_keys))


@lru_cache
def get_settings() -> Settings:
    """The process's settings, read from the environment once."""
    return Settings()
