"""``/v1/jobs/{id}/report``: the job as a page a person reads.

Its router is the one ``/v1`` router included without ``get_owner``: with API keys on, the page also
opens with the signed token of the job's ``report_url`` (``service.report.links``), so a browser needs
no Authorization header; without a token it authenticates like every other route.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.security import HTTPAuthorizationCredentials

from service.api.deps import SettingsDep, StoreDep, bearer, get_owner
from service.api.routes.jobs import load_job
from service.core.headers import HTML_POLICY
from service.core.problems import Problem
from service.core.security import REALM
from service.jobs import public_job
from service.report.links import TokenRefused, check_token
from service.report.page import COPY_SCRIPT_HASH, render_report
from worker.jobs.store import TERMINAL

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

#: Rendered pages of ended jobs kept in memory (they never change; a render takes a few milliseconds).
CACHED_REPORTS = 64
#: The page's policy: the security headers' HTML policy, plus the copy button's inline script by its hash.
REPORT_POLICY = f"{HTML_POLICY}; script-src {COPY_SCRIPT_HASH}"
#: Most events read to draw a running job's baseline curve (its ``baseline_epoch`` events come early).
LIVE_EVENTS = 5000
_cache: OrderedDict[tuple[str, str], str] = OrderedDict()
_cache_lock = threading.Lock()


def _remember(key: tuple[str, str], html: str) -> None:
    with _cache_lock:
        _cache[key] = html
        while len(_cache) > CACHED_REPORTS:
            _cache.popitem(last=False)


@router.get(
    "/{job_id}/report",
    response_class=HTMLResponse,
    summary="The job as a page a person reads",
)
def report(
    job_id: str,
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    token: Annotated[
        str | None,
        Query(max_length=200, description="the signed token of the job's `report_url` (instead of an API key)"),
    ] = None,
) -> HTMLResponse:
    """Why the loss does not go down, at a glance: the diagnosis (each finding with its basis and
    confidence), the spec with the fix applied to copy, the lr sweep, every probe against chance, the
    checks, per-layer gradients and dead units, and every run's loss curve. A job that has not ended
    shows its progress and the baseline's curve so far, and reloads itself every few seconds. With API
    keys on, the page opens with the key or with the job's ``report_url`` (its ``token`` grants this one
    report until it expires; an expired or wrong one is a ``401``, like a wrong key)."""
    if settings.keys_required and token is not None:
        try:
            check_token(job_id, token, settings.report_secret)
        except TokenRefused as exc:
            challenge = f'{REALM}, error="invalid_token"'
            raise Problem(401, "report-link-refused", str(exc), headers={"WWW-Authenticate": challenge}) from None
        record = store.get_job(job_id)  # the token was made for this job id, whoever owns it
        if record is None:
            raise Problem(404, "job-not-found", f"there is no job {job_id} (or its retention period ended)")
    else:
        record = load_job(store, job_id, get_owner(request, settings, None))
    job = public_job(record)
    headers = {"Content-Security-Policy": REPORT_POLICY, "Cache-Control": "no-store"}
    if job["status"] not in TERMINAL or not job.get("finished_at"):
        events = store.events(job_id, limit=LIVE_EVENTS) if job["status"] == "running" else []
        live = render_report(job, refresh_seconds=settings.report_refresh_seconds, events=events)
        return HTMLResponse(live, headers=headers)
    key = (job_id, str(job["finished_at"]))
    with _cache_lock:
        html = _cache.get(key)
    if html is None:
        html = render_report(job)
        _remember(key, html)
    return HTMLResponse(html, headers=headers)
