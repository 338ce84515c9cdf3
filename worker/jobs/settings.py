"""Worker-side settings, read once per process from ``LOSSDOCTOR_*`` environment variables.

The API has its own ``service.core.config.Settings``; the two share ``LOSSDOCTOR_REDIS_URL`` and
``LOSSDOCTOR_QUEUE`` so that any number of API processes and workers on any machines meet in one Redis.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

#: Redis that holds the queue and the job records.
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
#: Name of the rq queue that jobs go on.
DEFAULT_QUEUE = "lossdoctor"
#: Seconds an idle worker's registration lives without a heartbeat. rq blocks on the queue for this
#: minus 15 s between heartbeats, so 20 s means an idle worker heartbeats every ~5 s (rq's default: 420 s).
DEFAULT_WORKER_TTL_SECONDS = 20
#: Seconds between heartbeats of a worker whose work horse runs a job (rq's default: 30 s). The API
#: declares a worker lost when its heartbeat is older than ``LOSSDOCTOR_WORKER_DEAD_AFTER_SECONDS``.
DEFAULT_JOB_MONITORING_INTERVAL_SECONDS = 2
#: Shortest interval, in seconds, between two looks at a running job's cancel flag.
DEFAULT_CANCEL_POLL_SECONDS = 0.5
#: Dotted path of the function that runs a job spec:
#: ``run_job(spec, *, on_event, should_stop, fetch_upload) -> result``.
DEFAULT_ENGINE = "worker.engine.job.run_job"
#: Modules the worker imports once before forking work horses, so each job does not pay for them.
#: Importing torch does not initialize CUDA; only the work horse ever touches a GPU. The task and the
#: engine are imported here too: a horse would otherwise import them for every job (about 150 ms).
#: torch._dynamo is what the first ``torch.optim`` optimizer imports lazily (about 1.5 s).
DEFAULT_PRELOAD = ("numpy", "torch", "torch._dynamo", "sklearn.datasets", "worker.jobs.task", "worker.engine.job")
#: MiB of address space a work horse may add to what its worker holds when it forks (``worker.jobs.limits``);
#: 0: no limit. Off by default because CUDA reserves far more address space than it uses.
DEFAULT_JOB_MEMORY_LIMIT_MB = 0
#: Seconds a worker (and its work horse) keeps retrying one Redis command, with backoff, before it gives
#: up on it (``worker.jobs.reconnect``): a Redis restart or failover shorter than this goes unnoticed by jobs.
DEFAULT_REDIS_OUTAGE_SECONDS = 120.0


class WorkerSettings(BaseSettings):
    """Settings of ``lossdoctor worker`` and of the rq task it runs."""

    model_config = SettingsConfigDict(env_prefix="LOSSDOCTOR_", extra="ignore")

    redis_url: str = Field(default=DEFAULT_REDIS_URL, description="Redis URL shared by the API and the workers.")
    queue: str = Field(default=DEFAULT_QUEUE, description="rq queue name.")
    worker_ttl_seconds: int = Field(default=DEFAULT_WORKER_TTL_SECONDS, ge=16, description="rq worker_ttl (s).")
    job_monitoring_interval_seconds: int = Field(
        default=DEFAULT_JOB_MONITORING_INTERVAL_SECONDS,
        ge=1,
        description="Heartbeat interval while a job runs (s).",
    )
    cancel_poll_seconds: float = Field(
        default=DEFAULT_CANCEL_POLL_SECONDS,
        gt=0.0,
        description="Least time between two cancel-flag checks (s).",
    )
    engine: str = Field(default=DEFAULT_ENGINE, description="Dotted path of the engine's run_job function.")
    preload: tuple[str, ...] = Field(default=DEFAULT_PRELOAD, description="Modules imported before forking.")
    job_memory_limit_mb: int = Field(
        default=DEFAULT_JOB_MEMORY_LIMIT_MB, ge=0, description="Address space a job may add (MiB); 0: no limit."
    )
    redis_outage_seconds: float = Field(
        default=DEFAULT_REDIS_OUTAGE_SECONDS, gt=0.0, description="How long one Redis command is retried (s)."
    )
