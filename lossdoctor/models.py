"""Typed views of what the service returns: a job, its result and diagnosis, a page of jobs, a data set,
a monitored run.

Every model accepts fields it does not know (``extra="allow"``) and every field a newer server might
drop has a default, so an older client keeps working against a newer server. Causes and statuses are
plain strings for the same reason (the contract adds causes). Torch-free and free of any server code.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

#: Job statuses in which a job will not change any more.
TERMINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled"})


class Lenient(BaseModel):
    """Base of every response model: unknown fields are kept (``model_extra``), never an error."""

    model_config = ConfigDict(extra="allow")


class Finding(Lenient):
    """One cause with the numbers that triggered it and the fix (setting path → value or advice)."""

    cause: str
    confidence: float = 0.0
    evidence: list[str] = Field(default_factory=list)
    fix: dict[str, Any] = Field(default_factory=dict)
    confirmed: bool = False
    recovered: float | None = None


class Diagnosis(Lenient):
    """The verdict: ``healthy``, or the ``primary_cause`` and every finding; ``summary`` in words."""

    healthy: bool
    primary_cause: str | None = None
    findings: list[Finding] = Field(default_factory=list)
    summary: str = ""
    verdict_basis: str | None = None
    complete: bool | None = None
    notes: list[str] = Field(default_factory=list)

    @property
    def primary(self) -> Finding | None:
        """The finding of ``primary_cause`` (the first one naming it), or None."""
        return next((f for f in self.findings if f.cause == self.primary_cause), None)


class Result(Lenient):
    """A succeeded job's result: the baseline run, the probes and the diagnosis (see CONTRACT.md)."""

    baseline: dict[str, Any] = Field(default_factory=dict)
    probes: list[dict[str, Any]] = Field(default_factory=list)
    diagnosis: Diagnosis
    checks: list[dict[str, Any]] = Field(default_factory=list)
    timing: dict[str, Any] = Field(default_factory=dict)


class Progress(Lenient):
    """Runs finished (``done``) of those planned (``total``)."""

    done: int = 0
    total: int = 0


class JobError(Lenient):
    """Why a job failed: a ``type`` and a ``message`` a person can act on."""

    type: str = "error"
    message: str = ""


class Job(Lenient):
    """A job as ``GET /v1/jobs/{id}`` returns it; ``result`` once it succeeded (absent in listings)."""

    id: str
    name: str | None = None
    status: str
    progress: Progress = Field(default_factory=Progress)
    spec: dict[str, Any] = Field(default_factory=dict)
    result: Result | None = None
    error: JobError | None = None
    created_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    report_url: str | None = None

    @property
    def done(self) -> bool:
        """True once the job ended (succeeded, failed or cancelled)."""
        return self.status in TERMINAL_STATUSES

    @property
    def diagnosis(self) -> Diagnosis | None:
        """The result's diagnosis, or None before the job succeeded."""
        return self.result.diagnosis if self.result is not None else None


class JobPage(Lenient):
    """One page of ``GET /v1/jobs``: the jobs, newest first, and the cursor of the next page (or None)."""

    jobs: list[Job] = Field(default_factory=list)
    next_after: str | None = None


class Dataset(Lenient):
    """An uploaded data set: its ``id`` (``ds_…``) for a spec's ``data``, and its shapes and dtypes."""

    id: str
    filename: str | None = None
    n_samples: int | None = None
    x_shape: list[int] = Field(default_factory=list)
    y_shape: list[int] = Field(default_factory=list)
    x_dtype: str | None = None
    y_dtype: str | None = None


class Run(Lenient):
    """A run of a team's own training loop watched by ``lossdoctor.Monitor``, with its diagnosis so far."""

    id: str
    name: str | None = None
    steps_received: int = 0
    last_step: int | None = None
    created_at: str | None = None
    updated_at: str | None = None
    diagnosis: Diagnosis | None = None
