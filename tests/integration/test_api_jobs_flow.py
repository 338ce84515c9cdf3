"""Jobs through the real stack: Redis, uvicorn, ``lossdoctor worker`` and the real engine on tiny specs."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from lossdoctor_stack import Stack

pytestmark = pytest.mark.slow


def test_submit_poll_succeeds_with_a_result(stack: Stack, spec: dict[str, Any]) -> None:
    job = stack.submit(spec)
    done = stack.wait(job["id"])
    assert done["status"] == "succeeded", done["error"]
    result = done["result"]
    assert result["baseline"]["history"]["train_loss"]
    assert [p["name"] for p in result["probes"]]
    assert isinstance(result["diagnosis"]["healthy"], bool) and "summary" in result["diagnosis"]
    assert done["progress"]["done"] == done["progress"]["total"] > 0
    assert done["started_at"] and done["finished_at"] and done["error"] is None
    # kept for the configured retention, then Redis drops it
    ttl = stack.redis.ttl(f"lossdoctor:job:{job['id']}")
    assert 0 < ttl <= stack.settings.retention_seconds


def test_events_are_in_order(stack: Stack, spec: dict[str, Any]) -> None:
    job = stack.submit(spec)
    stack.wait(job["id"])
    events = stack.client.get(f"/v1/jobs/{job['id']}/events").json()["events"]
    types = [e["type"] for e in events]
    assert types[0] == "queued" and types[1] == "started" and types[-1] == "succeeded"
    assert "probe_started" in types and "probe_finished" in types
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    stamps = [e["at"] for e in events]
    assert stamps == sorted(stamps)


def test_report_page_draws_a_curve_per_run(stack: Stack, spec: dict[str, Any]) -> None:
    job = stack.wait(stack.submit(spec)["id"])
    html = stack.client.get(f"/v1/jobs/{job['id']}/report").text
    drawn = re.findall(r'<figure class="curve" data-probe="([^"]+)">\s*<svg', html)
    assert drawn == ["baseline"] + [p["name"] for p in job["result"]["probes"]]
    assert 'class="diagnosis' in html


def test_cancel_queued_job_at_once(make_stack: Any, spec: dict[str, Any]) -> None:
    stack = make_stack()  # no worker: the job stays queued
    job = stack.submit(spec)
    cancelled = stack.client.post(f"/v1/jobs/{job['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert stack.queue.depth() == 0
    assert stack.client.post(f"/v1/jobs/{job['id']}/cancel").status_code == 409
    stack.start_worker()
    time.sleep(1.0)
    assert stack.client.get(f"/v1/jobs/{job['id']}").json()["status"] == "cancelled"


def test_cancel_running_job_frees_its_worker_within_seconds(stack: Stack, make_spec: Any) -> None:
    long = make_spec(
        data={"source": "builtin", "name": "digits"},
        probes=["lr_sweep"],
        budget_seconds=40,
        model={
            "layers": [
                {"type": "linear", "out_features": 64},
                {"type": "relu"},
                {"type": "linear", "out_features": 10},
            ]
        },
        training={"loss": "cross_entropy", "lr": 0.001, "epochs": 2000, "batch_size": 16},
    )
    job = stack.submit(long)
    stack.wait_for_event(job["id"], "started", timeout=30)
    time.sleep(1.0)
    response = stack.client.post(f"/v1/jobs/{job['id']}/cancel")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    # the worker gives up the job within seconds: rq no longer counts it as started
    deadline = time.monotonic() + 10
    while stack.queue.started_attempts():
        assert time.monotonic() < deadline, "the cancelled job kept its worker"
        time.sleep(0.1)
    quick = stack.submit(make_spec())
    assert stack.wait(quick["id"], timeout=30)["status"] == "succeeded"
    assert stack.client.get(f"/v1/jobs/{job['id']}").json()["status"] == "cancelled"


def test_idempotency_key(stack: Stack, spec: dict[str, Any]) -> None:
    headers = {"Idempotency-Key": "key-1"}
    first = stack.client.post("/v1/jobs", json=spec, headers=headers)
    second = stack.client.post("/v1/jobs", json=spec, headers=headers)
    assert first.status_code == 202 and second.status_code in (200, 202)
    assert first.json()["id"] == second.json()["id"]
    other = stack.client.post("/v1/jobs", json={**spec, "name": "different"}, headers=headers)
    assert other.status_code == 409
    assert other.headers["content-type"] == "application/problem+json"


def test_list_pagination_newest_first(stack: Stack, spec: dict[str, Any]) -> None:
    ids = [stack.submit({**spec, "name": f"n{i}"})["id"] for i in range(5)]
    seen: list[str] = []
    after = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"after": after} if after else {})}
        page = stack.client.get("/v1/jobs", params=params).json()
        seen += [j["id"] for j in page["jobs"]]
        after = page["next_after"]
        if after is None:
            break
    assert seen == list(reversed(ids))
    for job_id in ids:
        stack.wait(job_id)
    succeeded = stack.client.get("/v1/jobs", params={"status": "succeeded", "limit": 100}).json()["jobs"]
    assert {j["id"] for j in succeeded} == set(ids)


def test_metrics_count_jobs(stack: Stack, spec: dict[str, Any]) -> None:
    stack.wait(stack.submit(spec)["id"])
    text = stack.client.get("/metrics").text
    assert 'lossdoctor_jobs{status="succeeded"} 1.0' in text
    assert 'lossdoctor_job_duration_seconds_count{status="succeeded"} 1.0' in text
    assert "lossdoctor_queue_depth 0.0" in text and "lossdoctor_workers_alive 1.0" in text
