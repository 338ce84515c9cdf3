"""Jobs never stay stuck: time limits, a worker killed with SIGKILL mid-job, readiness without workers."""

from __future__ import annotations

import logging
import os
import signal
import time
from typing import Any

import pytest

pytestmark = pytest.mark.slow

#: The contract: a killed worker's job leaves ``running`` (failed, or queued again) within this many seconds.
LOST_JOB_SECONDS = 30.0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_readyz_is_503_without_a_worker_then_200(make_stack: Any) -> None:
    stack = make_stack()
    response = stack.client.get("/readyz")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    stack.start_worker()
    ready = stack.client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["workers"] == 1


def test_job_past_its_time_limit_fails_with_a_message(make_stack: Any, spec: dict[str, Any]) -> None:
    stack = make_stack(job_timeout_margin_seconds=1)
    stack.start_worker(LOSSDOCTOR_ENGINE="stuck_engine.run_job")
    job = stack.submit({**spec, "budget_seconds": 1})
    failed = stack.wait(job["id"], timeout=30)
    assert failed["status"] == "failed"
    assert failed["error"]["type"] == "timeout"
    assert "time limit of 2 s" in failed["error"]["message"]
    events = stack.client.get(f"/v1/jobs/{job['id']}/events").json()["events"]
    assert [e["type"] for e in events] == ["queued", "started", "failed"]


def test_worker_killed_mid_job_is_detected_and_another_worker_serves(make_stack: Any, make_spec: Any) -> None:
    stack = make_stack()
    stack.start_worker()
    stack.start_worker()
    long = make_spec(
        data={"source": "builtin", "name": "digits"},
        probes=["lr_sweep"],
        budget_seconds=8,
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
    stack.wait(job["id"], {"running"}, timeout=30)
    time.sleep(1.0)
    record = stack.store.get_job(job["id"])
    worker_pid, horse_pid = record["worker"]["pid"], record["worker"]["horse_pid"]
    os.kill(worker_pid, signal.SIGKILL)
    killed_at = time.monotonic()
    # the work horse dies with its worker: it cannot keep training nor write a stale outcome
    deadline = time.monotonic() + 5
    while _alive(horse_pid):
        assert time.monotonic() < deadline, "the work horse outlived its worker"
        time.sleep(0.1)
    events = stack.wait_for_event(job["id"], "worker_lost", timeout=LOST_JOB_SECONDS)
    detected_after = time.monotonic() - killed_at
    logging.getLogger(__name__).info("killed worker's job moved after %.1f s", detected_after)
    assert detected_after < LOST_JOB_SECONDS
    lost = next(e for e in events if e["type"] == "worker_lost")
    assert "stopped sending heartbeats" in lost["reason"]
    # queued again once (the default), the surviving worker runs it to the end
    done = stack.wait(job["id"], timeout=60)
    assert done["status"] == "succeeded", done["error"]
    types = [e["type"] for e in stack.client.get(f"/v1/jobs/{job['id']}/events").json()["events"]]
    assert types.count("started") == 2 and "requeued" in types
    follow_up = stack.submit(make_spec())
    assert stack.wait(follow_up["id"], timeout=30)["status"] == "succeeded"
