"""Typed shapes of answers, so ``/openapi.json`` describes them (the routes still build plain dicts)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


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


class Open(BaseModel):
    """A part of the result. The engine writes every field named here (and may add more); the answer
    declares them all optional so a result stored by another version is still served, never refused."""

    model_config = ConfigDict(extra="allow")


class Finding(Open):
    """One cause with the numbers that show it."""

    cause: str | None = Field(None, description="a cause of CONTRACT.md, e.g. lr_too_high")
    confidence: float | None = Field(
        None, description="0..1, a fixed level per rule and basis (README: How sure is a diagnosis)"
    )
    evidence: list[str] = Field(default_factory=list, description="sentences that carry the numbers")
    fix: dict[str, Any] | None = Field(None, description="dotted spec paths to their new values, or advice in words")
    confirmed: bool | None = Field(None, description="true only when an intervention recovered the loss")
    recovered: float | None = Field(None, description="share of the chance-level loss the intervention won back")
    basis: Literal["intervention", "measured", "symptoms"] | None = Field(
        None, description="how the finding is known: an intervention, the run's own numbers, or symptoms only"
    )


class Diagnosis(Open):
    """What is wrong, how sure, and the fix."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "healthy": False,
                    "primary_cause": "lr_too_high",
                    "verdict_basis": "intervention",
                    "complete": True,
                    "findings": [
                        {
                            "cause": "lr_too_high",
                            "confidence": 0.93,
                            "confirmed": True,
                            "basis": "intervention",
                            "recovered": 0.9,
                            "fix": {"training.lr": 0.05},
                            "evidence": [
                                "with lr 5 the train loss rose from 2.31 to a peak of 9.8 and ended at 7.5",
                                "the same run with lr 0.05 fell to 0.21 (chance 2.3)",
                            ],
                        }
                    ],
                    "summary": "The run is not learning because the learning rate is too high: steps overshoot. ...",
                    "notes": [],
                    "chance_loss": 2.3,
                }
            ]
        },
    )

    healthy: bool | None = None
    primary_cause: str | None = Field(None, description="null when healthy or inconclusive")
    findings: list[Finding] = Field(default_factory=list, description="best first")
    summary: str | None = Field(None, description="one paragraph in plain words")
    verdict_basis: str | None = Field(
        None, description="intervention, measured, symptoms, trained (healthy), inconclusive, or monitor (curves)"
    )
    complete: bool | None = Field(None, description="whether every planned run finished")
    notes: list[str] = Field(default_factory=list)
    chance_loss: float | None = Field(None, description="the loss of the best constant prediction")


class History(Open):
    """Per-epoch losses of one run; null where non-finite."""

    epoch: list[int] = Field(default_factory=list)
    train_loss: list[float | None] = Field(
        default_factory=list, description="mean over the epoch's batches of the data loss alone"
    )
    val_loss: list[float | None] = Field(default_factory=list)


class Baseline(Open):
    """The spec's run as given, instrumented."""

    config: dict[str, Any] | None = Field(None, description="the spec's training as run")
    history: History | None = None
    layers: list[dict[str, Any]] = Field(
        default_factory=list, description="per weight layer: name, grad_norm, update_ratio, dead_fraction"
    )
    summary: dict[str, Any] | None = None
    stop_reason: str | None = Field(None, description="completed, non_finite or deadline")


class ProbeResult(Open):
    """A controlled variant of the baseline that changed one thing (or two, for `combination`)."""

    name: str | None = None
    family: str | None = None
    changes: dict[str, Any] | None = Field(None, description="dotted spec paths to the values the probe ran with")
    history: History | None = None
    summary: dict[str, Any] | None = None
    stop_reason: str | None = Field(None, description="completed, non_finite, deadline, settled or behind")


class Result(Open):
    """The result of a succeeded job (CONTRACT.md, "Result")."""

    baseline: Baseline | None = None
    probes: list[ProbeResult] = Field(default_factory=list)
    diagnosis: Diagnosis | None = None
    checks: list[dict[str, Any]] = Field(default_factory=list, description="each pre-check: name, flagged, detail")
    timing: dict[str, Any] | None = None
    data: dict[str, Any] | None = None


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


class JobPage(BaseModel):
    """A page of jobs, newest first."""

    jobs: list[Job]
    next_after: str | None = Field(description="the `after` of the next page; null on the last page")
