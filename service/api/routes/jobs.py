"""``/v1/jobs``: submit, read, list, cancel, and the events of a job."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Response

from service.api.deps import OwnerDep, QueueDep, SettingsDep, StoreDep
from service.core.config import MAX_PAGE_LIMIT
from service.core.openapi import problem_responses
from service.core.problems import Problem
from service.jobs import cancel_job, public_job, submit_job
from worker.spec import JobSpec
from worker.store import JobStore, Record

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

StatusName = Literal["queued", "running", "succeeded", "failed", "cancelled"]


def load_job(store: JobStore, job_id: str, owner: str) -> Record:
    """The caller's job ``job_id``, or a 404 problem."""
    record = store.get_job(job_id, owner)
    if record is None:
        raise Problem(404, "job-not-found", f"there is no job {job_id} (or its retention period ended)")
    return record


@router.post(
    "",
    status_code=202,
    summary="Submit a job spec",
    responses={
        200: {"description": "The job an earlier request with the same Idempotency-Key and body created"},
        **problem_responses(409, 429),
    },
)
def create_job(
    spec: JobSpec,
    response: Response,
    store: StoreDep,
    queue: QueueDep,
    settings: SettingsDep,
    owner: OwnerDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", min_length=1, max_length=255)] = None,
) -> dict[str, Any]:
    """Validate (field by field, then against its data), store and enqueue a job; ``202`` and its URL.

    With an ``Idempotency-Key``, repeating the same body returns the same job (``200``), and a different
    body under the same key is a ``409``.
    """
    record, created = submit_job(
        spec, store=store, queue=queue, settings=settings, owner=owner, idempotency_key=idempotency_key
    )
    response.headers["Location"] = f"/v1/jobs/{record['id']}"
    if not created:
        response.status_code = 200
    return public_job(record)


@router.get("", summary="List jobs, newest first")
def list_jobs(
    store: StoreDep,
    settings: SettingsDep,
    owner: OwnerDep,
    status: StatusName | None = None,
    limit: Annotated[int | None, Query(ge=1, le=MAX_PAGE_LIMIT)] = None,
    after: Annotated[str | None, Query(max_length=128, description="the last job id of the previous page")] = None,
) -> dict[str, Any]:
    """A page of the caller's jobs (without ``result``), newest first; ``next_after`` fetches the next."""
    records, next_after = store.list_jobs(owner, status=status, after=after, limit=limit or settings.page_limit)
    return {"jobs": [public_job(r, with_result=False) for r in records], "next_after": next_after}


@router.get("/{job_id}", summary="Read a job")
def get_job(job_id: str, store: StoreDep, owner: OwnerDep) -> dict[str, Any]:
    """Status, progress (probes done of total), spec, and ``result`` once the job succeeded."""
    return public_job(load_job(store, job_id, owner))


@router.post("/{job_id}/cancel", summary="Cancel a queued or running job", responses=problem_responses(409))
def cancel(job_id: str, store: StoreDep, queue: QueueDep, owner: OwnerDep) -> dict[str, Any]:
    """Cancel at once; a running job's worker stops within about a second. A job that ended: ``409``."""
    return public_job(cancel_job(load_job(store, job_id, owner), store=store, queue=queue))


@router.get("/{job_id}/events", summary="What happened to a job, in order")
def events(job_id: str, store: StoreDep, owner: OwnerDep) -> dict[str, Any]:
    """Every state change and probe of the job, oldest first, each with its ``seq`` and time ``at``."""
    load_job(store, job_id, owner)
    return {"job_id": job_id, "events": store.events(job_id)}
