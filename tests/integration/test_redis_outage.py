"""Redis dying hard (SIGKILL) and coming back on the same port with its append-only file: a worker that was
running a job rides it out, the job still ends, and the worker runs the next job."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from lossdoctor_stack import Stack

from lossdoctor.redis_server import RedisServer
from service.core.config import Settings

pytestmark = pytest.mark.slow

#: Seconds Redis stays down: well past the 0.7 s that a worker used to survive.
OUTAGE_SECONDS = 3.0


def kill_hard(server: RedisServer) -> None:
    """SIGKILL the server process (no append-only file flush) and wait until it is gone."""
    process = server._process
    assert process is not None
    process.kill()
    process.wait(10)


def long_spec(make_spec: Any) -> dict[str, Any]:
    """A job that trains until its 4 s budget ends."""
    return make_spec(
        data={"source": "builtin", "name": "digits"},
        model={"layers": [{"type": "linear", "out_features": 10}]},
        training={"loss": "cross_entropy", "lr": 0.01, "epochs": 2000, "batch_size": 64},
        budget_seconds=4,
    )


def test_a_worker_rides_out_a_redis_restart_and_runs_the_next_job(
    aof_server: RedisServer, tmp_path: Path, make_spec: Any
) -> None:
    stack = Stack(aof_server.url, Settings(redis_url=aof_server.url, sweep_interval_seconds=1.0), tmp_path)
    try:
        worker = stack.start_worker()
        running = stack.submit(long_spec(make_spec))
        stack.wait(running["id"], {"running"}, timeout=30)
        time.sleep(1.5)  # past appendfsync everysec, so the running record is on disk

        kill_hard(aof_server)
        time.sleep(OUTAGE_SECONDS)
        assert worker.poll() is None, "the worker exited while Redis was down"
        aof_server.start()  # same port, same data directory

        done = stack.wait(running["id"], timeout=90)
        assert done["status"] == "succeeded", done["error"]
        assert worker.poll() is None, "the worker exited after Redis came back"
        follow_up = stack.wait(stack.submit(make_spec())["id"], timeout=60)
        assert follow_up["status"] == "succeeded", follow_up["error"]
        record = stack.store.get_job(follow_up["id"])
        assert record is not None and record["worker"]["pid"] == worker.pid
        log = next(tmp_path.glob("w*.log")).read_text()
        assert "Redis" in log and "unreachable" in log  # the outage is logged
    finally:
        stack.close()


def test_a_job_stored_but_never_enqueued_is_put_on_the_queue_by_the_sweeper(
    make_stack: Any, spec: dict[str, Any]
) -> None:
    stack: Stack = make_stack(queued_grace_seconds=1.0)
    stack.start_worker()
    # what a request leaves behind when the API dies between storing the job and enqueuing it
    stack.store.create_job("job_" + "0" * 24, spec, retention_seconds=600, timeout_seconds=60)
    assert stack.queue.depth() == 0
    done = stack.wait("job_" + "0" * 24, timeout=60)
    assert done["status"] == "succeeded", done["error"]
    events = stack.client.get(f"/v1/jobs/{done['id']}/events").json()["events"]
    assert [e["type"] for e in events][:3] == ["queued", "enqueued_again", "started"]
    assert "not on the queue" in events[1]["reason"]


def test_a_request_while_redis_is_down_is_a_503_with_retry_after(
    aof_server: RedisServer, tmp_path: Path, spec: dict[str, Any]
) -> None:
    stack = Stack(aof_server.url, Settings(redis_url=aof_server.url, sweeper=False), tmp_path)
    try:
        kill_hard(aof_server)
        for method, path in (("GET", "/v1/jobs"), ("GET", "/v1/jobs/job_" + "1" * 24), ("POST", "/v1/jobs")):
            response = stack.client.request(method, path, json=spec if method == "POST" else None)
            assert response.status_code == 503, response.text
            assert response.headers["content-type"] == "application/problem+json"
            assert int(response.headers["Retry-After"]) > 0
            assert response.json()["type"].endswith("redis-unavailable")
        aof_server.start()
        assert stack.client.get("/v1/jobs").status_code == 200
    finally:
        stack.close()
