"""``/v1/jobs``: submit, read, list, cancel, and the events of a job."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Response

from service.api.deps import JobViewDep, OwnerDep, QueueDep, SettingsDep, StoreDep, require_json
from service.api.schemas import EventsPage, Job, JobPage
from service.core.config import MAX_PAGE_LIMIT
from service.core.openapi import problem_responses
from service.core.problems import Problem
from service.events import EVENT_STREAM, MAX_EVENTS_PAGE, event_stream, parse_cursor, wants_stream
from service.jobs import cancel_job, submit_job
from worker.contract.spec import JobSpec
from worker.jobs.store import JobStore, Record

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

StatusName = Literal["queued", "running", "succeeded", "failed", "cancelled"]
#: ``?include=spec``: answer with the whole spec, inline ``data.x``/``data.y`` included.
IncludeQuery = Annotated[
    Literal["spec"] | None,
    Query(description="`spec`: include a spec's inline data.x and data.y, which this answer leaves out by default"),
]


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
    dependencies=[Depends(require_json)],
    response_model=Job,
    response_model_exclude_unset=True,
    responses={
        200: {"model": Job, "description": "The job an earlier request with the same Idempotency-Key and body created"},
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
    view: JobViewDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", min_length=1, max_length=255)] = None,
    include: IncludeQuery = None,
) -> dict[str, Any]:
    """Validate (field by field, then against its data), store and enqueue a job; ``202`` and its URL.

    With an ``Idempotency-Key``, repeating the same body returns the same job (``200``), and a different
    body under the same key is a ``409``. The answer leaves out inline ``data.x``/``data.y`` (named in
    ``omitted``) unless ``?include=spec``.
    """
    record, created = submit_job(
        spec, store=store, queue=queue, settings=settings, owner=owner, idempotency_key=idempotency_key
    )
    response.headers["Location"] = f"/v1/jobs/{record['id']}"
    if not created:
        response.status_code = 200
    return view(record, full_spec=include == "spec")


@router.get("", summary="List jobs, newest first", response_model=JobPage, response_model_exclude_unset=True)
def list_jobs(
    store: StoreDep,
    settings: SettingsDep,
    owner: OwnerDep,
    view: JobViewDep,
    status: StatusName | None = None,
    limit: Annotated[int | None, Query(ge=1, le=MAX_PAGE_LIMIT)] = None,
    after: Annotated[str | None, Query(max_length=128, description="the last job id of the previous page")] = None,
    include: IncludeQuery = None,
) -> dict[str, Any]:
    """A page of the caller's jobs (without ``result``, and without inline ``data.x``/``data.y`` unless
    ``?include=spec``), newest first; ``next_after`` fetches the next."""
    records, next_after = store.list_jobs(owner, status=status, after=after, limit=limit or settings.page_limit)
    jobs = [view(r, with_result=False, full_spec=include == "spec") for r in records]
    return {"jobs": jobs, "next_after": next_after}


@router.get("/{job_id}", summary="Read a job", response_model=Job, response_model_exclude_unset=True)
def get_job(job_id: str, store: StoreDep, owner: OwnerDep, view: JobViewDep) -> dict[str, Any]:
    """Status, progress (probes done of total), spec, ``result`` once the job succeeded, and ``report_url``."""
    return view(load_job(store, job_id, owner))


@router.post(
    "/{job_id}/cancel",
    summary="Cancel a queued or running job",
    responses=problem_responses(409),
    response_model=Job,
    response_model_exclude_unset=True,
)
def cancel(job_id: str, store: StoreDep, queue: QueueDep, owner: OwnerDep, view: JobViewDep) -> dict[str, Any]:
    """Cancel at once; a running job's worker stops within about a second. A job that ended: ``409``."""
    return view(cancel_job(load_job(store, job_id, owner), store=store, queue=queue))


@router.get(
    "/{job_id}/events",
    summary="What happened to a job, in order (JSON pages, or a Server-Sent Events stream)",
    response_model=EventsPage,
    responses={
        200: {
            "description": "A page of events; with `Accept: text/event-stream`, the events as a stream",
            "content": {EVENT_STREAM: {"schema": {"type": "string", "description": "SSE: `id:` seq, `data:` JSON"}}},
        },
        **problem_responses(400),
    },
)
def events(
    job_id: str,
    store: StoreDep,
    owner: OwnerDep,
    after: Annotated[
        str | None, Query(max_length=40, description="a seq: only the events after it (0 or absent: from the first)")
    ] = None,
    limit: Annotated[int | None, Query(ge=1, le=MAX_EVENTS_PAGE, description="most events in the page")] = None,
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
    last_event_id: Annotated[
        str | None, Header(alias="Last-Event-ID", max_length=40, description="a stream's resume point (a seq)")
    ] = None,
) -> Any:
    """Every state change, probe and webhook delivery of the job, oldest first, each with its ``seq`` and
    time ``at``. ``after`` and ``limit`` page them (``next_after`` is the cursor of the next page while
    more are stored). With ``Accept: text/event-stream`` they stream as Server-Sent Events (``id:`` is the
    seq; ``Last-Event-ID`` resumes after it) until the job has ended and its last event is sent. An
    ``after`` or ``Last-Event-ID`` that is not a seq of this job's events is a ``400``."""
    load_job(store, job_id, owner)
    latest = store.event_count(job_id)
    if wants_stream(accept):
        cursor = last_event_id if last_event_id not in (None, "") else after
        start = parse_cursor(cursor, "Last-Event-ID" if cursor is last_event_id else "after", latest)
        return event_stream(store, job_id, start)
    start = parse_cursor(after, "after", latest)
    page = store.events(job_id, after=start, limit=limit)
    last = page[-1]["seq"] if page else start
    return {"job_id": job_id, "events": page, "next_after": last if last < store.event_count(job_id) else None}
