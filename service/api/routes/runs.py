"""``/v1/runs``: runs of a team's own training loop that ``lossdoctor.Monitor`` streams telemetry for.

``POST /v1/runs`` creates one from the monitor's setup reading, ``POST /v1/runs/{id}/telemetry`` appends
step records (steps already stored are ignored, so a retried chunk is harmless), ``GET /v1/runs/{id}``
returns the run with the diagnosis of everything received so far (``worker.diagnosis.monitor_rules``, the same
rules the monitor runs offline). Runs belong to the caller's tenant and expire
``LOSSDOCTOR_RETENTION_SECONDS`` after their last telemetry.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Response
from pydantic import BaseModel, Field

from service.api.deps import OwnerDep, SettingsDep
from service.core.openapi import problem_responses
from service.core.problems import Problem
from worker.contract.spec import Strict
from worker.contract.telemetry import MonitorSetup, StepRecord
from worker.diagnosis.monitor_rules import diagnose_run
from worker.jobs.run_store import MAX_CHUNK_STEPS, MAX_RUN_STEPS, RunFull, RunStore

router = APIRouter(prefix="/v1/runs", tags=["runs"])


def get_run_store(request: Request) -> RunStore:
    """The app's run store (``service.main.create_app`` puts it on ``app.state``)."""
    store: RunStore = request.app.state.run_store
    return store


RunStoreDep = Annotated[RunStore, Depends(get_run_store)]


class RunCreate(Strict):
    """A new monitored run: the monitor's setup reading and an optional name."""

    name: str | None = Field(None, max_length=200)
    setup: MonitorSetup


class TelemetryChunk(Strict):
    """Step records to append, in any order; steps the run already has are ignored."""

    steps: list[StepRecord] = Field(min_length=1, max_length=MAX_CHUNK_STEPS)


class RunView(BaseModel):
    """A run as the API shows it; ``diagnosis`` is shaped like a job's, with ``verdict_basis`` ``monitor``."""

    id: str
    name: str | None
    steps_received: int = Field(description="step records stored (sampled steps and steps that broke a rule)")
    last_step: int | None = Field(description="the latest step stored")
    created_at: str
    updated_at: str
    diagnosis: dict[str, Any] | None = Field(None, description="in GET answers; null after create and append")


def view(record: dict[str, Any], diagnosis: dict[str, Any] | None = None) -> RunView:
    """The public shape of a stored run record (without its owner and setup)."""
    fields = ("id", "name", "steps_received", "last_step", "created_at", "updated_at")
    return RunView.model_validate({**{k: record.get(k) for k in fields}, "diagnosis": diagnosis})


def not_found(run_id: str) -> Problem:
    """The 404 problem of a run that is absent, expired, or another tenant's."""
    return Problem(404, "run-not-found", f"there is no run {run_id} (or its retention period ended)")


@router.post(
    "",
    status_code=201,
    summary="Create a monitored run",
    responses={200: {"description": "The run an earlier request with the same Idempotency-Key created"}},
)
def create_run(
    body: RunCreate,
    response: Response,
    runs: RunStoreDep,
    settings: SettingsDep,
    owner: OwnerDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", min_length=1, max_length=255)] = None,
) -> RunView:
    """Store a run for telemetry; ``201`` and its URL (``200`` with the same run for a repeated
    ``Idempotency-Key``)."""
    record, created = runs.create(
        owner,
        body.setup.model_dump(mode="json"),
        name=body.name,
        ttl_seconds=settings.retention_seconds,
        idempotency_key=idempotency_key,
    )
    response.headers["Location"] = f"/v1/runs/{record['id']}"
    if not created:
        response.status_code = 200
    return view(record)


@router.post("/{run_id}/telemetry", summary="Append step records to a run", responses=problem_responses(409))
def append_telemetry(
    run_id: str, body: TelemetryChunk, runs: RunStoreDep, settings: SettingsDep, owner: OwnerDep
) -> RunView:
    """Append the steps later than the run's ``last_step``; ``409`` once the run holds its most records."""
    try:
        record = runs.append(
            run_id, owner, [s.model_dump(mode="json") for s in body.steps], ttl_seconds=settings.retention_seconds
        )
    except RunFull as exc:
        raise Problem(
            409,
            "run-full",
            f"run {run_id} already holds {exc.count} step records, the most one run "
            f"keeps ({MAX_RUN_STEPS}); start a new run (a new Monitor) to go on",
        ) from exc
    if record is None:
        raise not_found(run_id)
    return view(record)


@router.get("/{run_id}", summary="Read a run and its diagnosis so far")
def get_run(run_id: str, runs: RunStoreDep, owner: OwnerDep) -> RunView:
    """The run with the diagnosis of its setup and every step record received so far."""
    record = runs.get(run_id, owner)
    if record is None:
        raise not_found(run_id)
    setup = MonitorSetup.model_validate(record["setup"])
    steps = [StepRecord.model_validate(s) for s in runs.steps(run_id)]
    return view(record, diagnose_run(setup, steps))
