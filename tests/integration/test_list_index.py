"""Listing jobs by status on the real store reads the owner's index of that status, not every job."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import pytest
from lossdoctor_stack import Stack

from worker.jobs.store import JobStore, Record

pytestmark = pytest.mark.slow
log = logging.getLogger(__name__)

#: Jobs of one owner in the listing test, and how many of them stay queued.
JOBS = 5_000
QUEUED = 30


class CountingStore(JobStore):
    """The real store, counting the records it reads."""

    reads = 0

    def get_job(self, job_id: str, owner: str | None = None) -> Record | None:
        self.reads += 1
        return super().get_job(job_id, owner)


def _fill(store: JobStore, spec: dict[str, Any]) -> list[str]:
    """``JOBS`` jobs of owner ``acme``, oldest first; all but every ``JOBS // QUEUED``-th end succeeded."""
    ids = []
    for i in range(JOBS):
        job_id = f"job_{i:024x}"
        store.create_job(job_id, spec, owner="acme", retention_seconds=600, timeout_seconds=60)
        if i % (JOBS // QUEUED):
            store.finish(job_id, None, "succeeded", expect=("queued",))
        ids.append(job_id)
    return ids


def _pages(store: JobStore, status: str | None, limit: int) -> list[str]:
    seen, after = [], None
    while True:
        page, after = store.list_jobs("acme", status=status, after=after, limit=limit)
        seen += [r["id"] for r in page]
        if after is None:
            return seen


def test_listing_by_status_reads_only_that_status(make_stack: Any, spec: dict[str, Any]) -> None:
    stack: Stack = make_stack()
    ids = _fill(stack.store, spec)
    queued = [i for n, i in enumerate(ids) if not n % (JOBS // QUEUED)][::-1]
    store = CountingStore(stack.redis)
    started = time.perf_counter()
    page, cursor = store.list_jobs("acme", status="queued", limit=20)
    elapsed = time.perf_counter() - started
    log.info("a page of 20 queued jobs among %d: %.1f ms, %d records read", JOBS, elapsed * 1000, store.reads)
    assert [r["id"] for r in page] == queued[:20] and cursor == queued[19]
    assert store.reads <= 20  # it used to read every newer job of every status: thousands
    assert _pages(store, "queued", 7) == queued
    everything = _pages(store, None, 100)
    assert everything == ids[::-1]
    assert _pages(store, "succeeded", 100) == [i for i in everything if i not in set(queued)]
    # a job that moves on leaves its old status' listing and joins the new one, in its place
    store.finish(queued[3], None, "cancelled", expect=("queued",))
    assert _pages(store, "queued", 50) == queued[:3] + queued[4:]
    assert _pages(store, "cancelled", 50) == [queued[3]]


def test_jobs_from_before_the_index_are_added_to_it_once(make_stack: Any, spec: dict[str, Any]) -> None:
    stack: Stack = make_stack()
    store = stack.store
    for i in range(5):
        store.create_job(f"job_{i:024x}", spec, owner="acme", retention_seconds=600, timeout_seconds=60)
    store.finish(f"job_{1:024x}", None, "failed", expect=("queued",))
    # what an older version stored: no per-status indexes, no flag, no seq in the records
    stack.redis.delete(*[f"lossdoctor:jobs:acme:{s}" for s in ("queued", "failed", "indexed")])
    for key in stack.redis.scan_iter("lossdoctor:job:*"):
        if stack.redis.type(key) == b"string":
            record = stack.store.get_job(key.decode().rsplit(":", 1)[1])
            assert record is not None
            del record["seq"]
            stack.redis.set(key, json.dumps(record))
    assert [r["id"] for r in store.list_jobs("acme", status="failed")[0]] == [f"job_{1:024x}"]
    assert len(store.list_jobs("acme", status="queued")[0]) == 4
    store.finish(f"job_{4:024x}", None, "cancelled", expect=("queued",))  # a record without its seq moves too
    assert [r["id"] for r in store.list_jobs("acme", status="cancelled")[0]] == [f"job_{4:024x}"]
    assert len(store.list_jobs("acme", status="queued")[0]) == 3
