"""Typed shapes of the API's answers, so ``/openapi.json`` describes them: jobs, pages of jobs, events and
progress here; the result and its parts (``Result``, ``Diagnosis``, ``Finding``, ...) come from the
contract (``worker.contract.result``), the type the engine returns and the job store keeps."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from worker.contract.result import Diagnosis, Finding, Result

__all__ = [
    "BaselineCurve",
    "CurvesDiagnosis",
    "Diagnosis",
    "Event",
    "EventsPage",
    "Finding",
    "Job",
    "JobError",
    "JobPage",
    "Progress",
    "Result",
]


class Event(BaseModel):
    """One thing that happened to a job. Fields beside ``seq``, ``type`` and ``at`` depend on the type:
    ``status`` for a state change, ``error`` for a failure, ``done``/``total`` for progress, ``attempt``,
    ``status_code`` and ``delivered`` for a webhook delivery."""

    model_config = ConfigDict(extra="allow")

    seq: int = Field(description="1-based position in the job's events; the cursor for `after`")
    type: str = Field(
        description="queued, started, baseline_epoch (the baseline's new per-epoch losses: from_epoch, epoch, "
        "epochs, train_loss, val_loss), probe_started, probe_finished, succeeded, webhook_attempt, …"
    )
    at: str = Field(description="UTC time, ISO 8601 with milliseconds")


class EventsPage(BaseModel):
    """A page of a job's events, oldest first."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "job_id": "job_0123456789abcdef01234567",
                    "events": [
                        {"seq": 1, "type": "queued", "at": "2026-12-01T10:00:00.000Z"},
                        {"seq": 2, "type": "started", "at": "2026-12-01T10:00:00.150Z", "worker": "w1"},
                    ],
                    "next_after": 2,
                }
            ]
        }
    )

    job_id: str
    events: list[Event]
    next_after: int | None = Field(
        description="the `after` of the next page while more events are stored; null when this page is the last"
    )


class BaselineCurve(BaseModel):
    """The baseline's per-epoch losses so far (thinned evenly to at most 200 points, the last kept)."""

    epoch: list[int] = Field(description="1-based epoch of each point")
    train_loss: list[float | None] = Field(description="mean data loss over the epoch's batches; null if non-finite")
    val_loss: list[float | None] = Field(description="validation loss after the epoch; null if non-finite")


class Progress(BaseModel):
    """Probe trainings finished of those planned (0 of 0 until the plan is made); while the job trains,
    also epochs trained of those planned across all its runs, seconds elapsed and an estimate of those
    left, and the baseline's curve so far (written at most every half second)."""

    done: int
    total: int
    epochs_done: int | None = Field(None, description="epochs trained so far, summed over all runs")
    epochs_total: int | None = Field(
        None, description="epochs planned, summed over the runs planned so far; runs that stop early leave theirs out"
    )
    elapsed_seconds: float | None = Field(None, description="seconds since the engine started the job")
    eta_seconds: float | None = Field(
        None, description="seconds left, estimated from the time per epoch so far, at most what the budget leaves"
    )
    baseline: BaselineCurve | None = None


class JobError(BaseModel):
    """Why a job failed, in words a person can act on."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="spec_error, timeout, out_of_memory, worker_lost, internal_error, …")
    message: str


class Job(BaseModel):
    """A job as the API shows it (CONTRACT.md). Listings leave out ``result``; listings and the ``202``
    answer leave out a spec's inline ``data.x``/``data.y`` (named in ``omitted``)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "job_0123456789abcdef01234567",
                    "name": "digits-lr",
                    "status": "running",
                    "progress": {
                        "done": 3,
                        "total": 13,
                        "epochs_done": 40,
                        "epochs_total": 260,
                        "elapsed_seconds": 1.2,
                        "eta_seconds": 6.5,
                    },
                    "spec": {
                        "data": {"source": "builtin", "name": "digits"},
                        "model": {
                            "layers": [
                                {"type": "linear", "out_features": 64},
                                {"type": "relu"},
                                {"type": "linear", "out_features": 10},
                            ]
                        },
                        "training": {"loss": "cross_entropy", "optimizer": "sgd", "lr": 5.0, "epochs": 20},
                    },
                    "result": None,
                    "error": None,
                    "created_at": "2026-12-01T10:00:00.000Z",
                    "started_at": "2026-12-01T10:00:00.150Z",
                    "finished_at": None,
                    "report_url": "http://127.0.0.1:8000/v1/jobs/job_0123456789abcdef01234567/report",
                }
            ]
        }
    )

    id: str = Field(description="job_ and 24 hex digits")
    name: str | None = None
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    progress: Progress
    spec: dict[str, Any] = Field(description="the job spec as validated, defaults filled in (see JobSpec)")
    result: Result | None = Field(None, description="the diagnosis once the job succeeded (CONTRACT.md)")
    error: JobError | None = None
    created_at: str = Field(description="UTC, ISO 8601 with milliseconds")
    started_at: str | None = None
    finished_at: str | None = None
    report_url: str = Field(
        description="the report page; with API keys on it carries a short-lived token that opens it without a key"
    )
    omitted: list[str] | None = Field(
        None, description="spec paths left out of this answer (`?include=spec` adds them)"
    )


class CurvesDiagnosis(BaseModel):
    """The diagnosis of posted curves (``POST /v1/diagnose/curves``), shaped like a job result's; its
    findings are symptoms or the monitor's measurements, never confirmed by an intervention."""

    diagnosis: Diagnosis


class JobPage(BaseModel):
    """A page of jobs, newest first."""

    jobs: list[Job]
    next_after: str | None = Field(description="the `after` of the next page; null on the last page")
