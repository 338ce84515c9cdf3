"""``/v1/jobs/{id}/report``: the job as a page a person reads."""

from __future__ import annotations

import threading
from collections import OrderedDict

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from service.api.deps import OwnerDep, SettingsDep, StoreDep
from service.api.routes.jobs import load_job
from service.jobs import public_job
from service.report.page import render_report
from worker.store import TERMINAL

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

#: Rendered pages of ended jobs kept in memory (they never change); drawing takes ~0.1 s per run.
CACHED_REPORTS = 64
_cache: OrderedDict[tuple[str, str], str] = OrderedDict()
_cache_lock = threading.Lock()


def _remember(key: tuple[str, str], html: str) -> None:
    with _cache_lock:
        _cache[key] = html
        while len(_cache) > CACHED_REPORTS:
            _cache.popitem(last=False)


@router.get("/{job_id}/report", response_class=HTMLResponse, summary="The job as a page a person reads")
def report(job_id: str, store: StoreDep, owner: OwnerDep, settings: SettingsDep) -> HTMLResponse:
    """Loss curves of the baseline and every probe drawn, the findings and fixes in words; a job that has
    not ended shows its progress and reloads itself every few seconds."""
    job = public_job(load_job(store, job_id, owner))
    if job["status"] not in TERMINAL or not job.get("finished_at"):
        return HTMLResponse(render_report(job, refresh_seconds=settings.report_refresh_seconds))
    key = (job_id, str(job["finished_at"]))
    with _cache_lock:
        html = _cache.get(key)
    if html is None:
        html = render_report(job)
        _remember(key, html)
    return HTMLResponse(html)
