"""Edges on the real stack: seeds refused at the edge when numpy or torch could not take them, security
headers on the report page and on JSON, markup in a job name shown as text, and a worker that runs only
lossdoctor's own task."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from lossdoctor_stack import Stack
from rq import Queue
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

import service.queue
from service.report.page import COPY_SCRIPT, COPY_SCRIPT_HASH
from worker.contract.spec import MAX_SEED

pytestmark = pytest.mark.slow

#: A job name built to inject markup into the report page.
INJECTED_NAME = '</title><script>alert(1)</script><img src=x onerror="alert(2)">"\'&'


@pytest.mark.parametrize(
    ("where", "seed"),
    [("data", -1), ("data", MAX_SEED + 1), ("training", -1), ("training", 2**63), ("training", MAX_SEED + 1)],
)
def test_an_out_of_range_seed_is_a_422_naming_it(stack: Stack, spec: dict[str, Any], where: str, seed: int) -> None:
    spec[where]["seed"] = seed
    response = stack.client.post("/v1/jobs", json=spec)
    assert response.status_code == 422, response.text
    loc = response.json()["errors"][0]["loc"]
    assert loc[:2] == ["body", where] and loc[-1] == "seed"  # data's loc names its source: body.data.builtin.seed
    assert ("4294967295" if seed > 0 else "greater than or equal to 0") in response.json()["errors"][0]["msg"]


def test_the_largest_seeds_run(stack: Stack, spec: dict[str, Any]) -> None:
    spec["data"]["seed"] = spec["training"]["seed"] = MAX_SEED
    job = stack.wait(stack.submit(spec)["id"])
    assert job["status"] == "succeeded", job["error"]


def test_security_headers_and_a_name_that_injects_markup_reads_as_text(stack: Stack, spec: dict[str, Any]) -> None:
    job = stack.wait(stack.submit({**spec, "name": INJECTED_NAME})["id"])
    assert job["status"] == "succeeded", job["error"]
    report = stack.client.get(f"/v1/jobs/{job['id']}/report")
    assert report.status_code == 200
    # the one script a page may carry is the copy button's, allowed by its hash alone
    assert re.findall(r"<script>(.*?)</script>", report.text, re.S) in ([], [COPY_SCRIPT])
    assert "<img" not in report.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in report.text
    policy = report.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert f"script-src {COPY_SCRIPT_HASH}" in policy and "unsafe" not in policy.split("script-src")[1]
    assert "http" not in policy  # nothing loaded from elsewhere
    for response in (
        report,
        stack.client.get(f"/v1/jobs/{job['id']}"),
        stack.client.get("/v1/jobs/nope"),
        stack.client.get("/healthz"),
    ):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


def test_a_worker_refuses_a_job_whose_function_is_not_lossdoctors_task(
    stack: Stack, spec: dict[str, Any], tmp_path: Path
) -> None:
    target = tmp_path / "written-by-a-foreign-job"
    queue = Queue(stack.settings.queue, connection=stack.redis, serializer=JSONSerializer)
    foreign = [queue.enqueue("os.makedirs", str(target)), queue.enqueue("worker.jobs.task.load_engine", "os.system")]
    deadline = time.monotonic() + 30
    for rq_job in foreign:
        while (status := Job.fetch(rq_job.id, stack.redis, serializer=JSONSerializer).get_status()) != JobStatus.FAILED:
            assert time.monotonic() < deadline, f"{rq_job.func_name} stayed {status}"
            time.sleep(0.1)
        fetched = Job.fetch(rq_job.id, stack.redis, serializer=JSONSerializer)
        refusal = fetched.latest_result().exc_string or ""  # type: ignore[union-attr]
        assert "is not one of ['worker.jobs.task.run', 'worker.task.run']" in refusal
    assert not target.exists()
    assert all(w.poll() is None for w in stack.workers)
    job = stack.wait(stack.submit(spec)["id"])
    assert job["status"] == "succeeded", job["error"]


def test_a_job_queued_under_the_old_task_path_still_runs(
    stack: Stack, spec: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Jobs enqueued as ``worker.task.run`` (before the worker was split into layers) run to the end."""
    monkeypatch.setattr(service.queue, "TASK_PATH", "worker.task.run")
    job = stack.wait(stack.submit(spec)["id"])
    assert job["status"] == "succeeded", job["error"]
    rq_job = Job.fetch(f"{job['id']}-1", stack.redis, serializer=JSONSerializer)
    assert rq_job.func_name == "worker.task.run"
