"""Load shedding on the real stack: past LOSSDOCTOR_MAX_QUEUE_DEPTH jobs waiting, a submission is a 503 with
Retry-After before its body is read, reads go on, and submissions are taken again once the queue drains."""

from __future__ import annotations

import time
from typing import Any

import pytest
from lossdoctor_stack import Stack

pytestmark = pytest.mark.slow


def test_submissions_past_the_queue_depth_are_shed_before_parsing(make_stack: Any, spec: dict[str, Any]) -> None:
    stack: Stack = make_stack(max_queue_depth=3, queue_full_retry_seconds=7)  # no worker yet: jobs wait
    ids = [stack.submit(spec)["id"] for _ in range(3)]
    assert stack.queue.depth() == 3

    shed = stack.client.post("/v1/jobs", json=spec)
    assert shed.status_code == 503, shed.text
    assert shed.headers["content-type"] == "application/problem+json"
    assert shed.headers["Retry-After"] == "7"
    body = shed.json()
    assert body["type"].endswith("overloaded") and "LOSSDOCTOR_MAX_QUEUE_DEPTH" in body["detail"]
    # refused before the body is read: broken JSON is shed too, not a 400
    broken = stack.client.post("/v1/jobs", content=b"{not json", headers={"Content-Type": "application/json"})
    assert broken.status_code == 503
    assert stack.queue.depth() == 3 and len(stack.client.get("/v1/jobs").json()["jobs"]) == 3  # reads go on

    stack.start_worker()
    deadline = time.monotonic() + 60
    while stack.queue.depth() >= 3:
        assert time.monotonic() < deadline, "the queue did not drain"
        time.sleep(0.2)
    again = stack.client.post("/v1/jobs", json=spec)
    assert again.status_code == 202, again.text
    for job_id in [*ids, again.json()["id"]]:
        assert stack.wait(job_id)["status"] == "succeeded"
