"""Faults survived on the real stack: Redis restarted, the API restarted, 200 concurrent jobs on 2 workers,
a job that runs out of memory, and results that are non-finite everywhere."""

from __future__ import annotations

import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from lossdoctor_stack import Stack

from lossdoctor.redis_server import RedisServer
from service.core.config import Settings
from worker.jobs.store import TERMINAL

pytestmark = pytest.mark.slow
log = logging.getLogger(__name__)

#: Jobs submitted at once in the load test, and the concurrent clients sending them.
LOAD_JOBS = 200
LOAD_CLIENTS = 16
#: Seconds the 200 jobs may take on 2 workers (they take about a minute on 2 CPU cores).
LOAD_SECONDS = 300.0


def strict_json(text: str) -> Any:
    """Parse ``text`` as RFC 8259 JSON: ``NaN``, ``Infinity`` and ``-Infinity`` are errors."""

    def refuse(token: str) -> Any:
        raise ValueError(f"{token} is not JSON")

    return json.loads(text, parse_constant=refuse)


def tiny_inline_spec(**changes: Any) -> dict[str, Any]:
    """The smallest job: 24 inline rows of 2 features, 1 epoch, one probe."""
    spec: dict[str, Any] = {
        "data": {
            "source": "inline",
            "x": [[i / 24, (i % 5) / 5] for i in range(24)],
            "y": [i % 2 for i in range(24)],
        },
        "model": {"layers": [{"type": "linear", "out_features": 2}]},
        "training": {"loss": "cross_entropy", "optimizer": "sgd", "lr": 0.1, "epochs": 1, "batch_size": 8},
        "probes": ["shuffled_labels"],
        "budget_seconds": 30,
        "device": "cpu",
    }
    spec.update(changes)
    return spec


def test_redis_restart_keeps_results_and_queued_jobs_which_still_run(
    aof_server: RedisServer, tmp_path: Path, spec: dict[str, Any]
) -> None:
    stack = Stack(aof_server.url, Settings(redis_url=aof_server.url, sweep_interval_seconds=1.0), tmp_path)
    try:
        stack.start_worker()
        first = stack.submit(spec)
        finished = stack.wait(first["id"])
        assert finished["status"] == "succeeded", finished["error"]
        events = stack.client.get(f"/v1/jobs/{first['id']}/events").json()
        stack.stop_workers()
        queued = [stack.submit(spec)["id"] for _ in range(3)]

        aof_server.stop()  # SIGTERM: the server writes its append-only file out and exits
        aof_server.start()

        assert stack.client.get(f"/v1/jobs/{first['id']}").json() == finished
        assert stack.client.get(f"/v1/jobs/{first['id']}/events").json() == events
        listed = stack.client.get("/v1/jobs?status=queued").json()["jobs"]
        assert sorted(j["id"] for j in listed) == sorted(queued)
        assert stack.queue.depth() == 3
        stack.start_worker()
        for job_id in queued:
            done = stack.wait(job_id)
            assert done["status"] == "succeeded", done["error"]
    finally:
        stack.close()


def test_api_restart_loses_nothing(make_stack: Any, make_spec: Any) -> None:
    stack: Stack = make_stack()
    stack.start_worker()
    finished = stack.wait(stack.submit(make_spec())["id"])
    assert finished["status"] == "succeeded", finished["error"]
    # a job that trains until its 3 s budget runs while the API goes away and comes back
    long = make_spec(
        data={"source": "builtin", "name": "digits"},
        model={"layers": [{"type": "linear", "out_features": 10}]},
        training={"loss": "cross_entropy", "lr": 0.01, "epochs": 2000, "batch_size": 64},
        budget_seconds=3,
    )
    running = stack.submit(long)
    stack.wait(running["id"], {"running"}, timeout=30)
    waiting = stack.submit(make_spec(), headers={"Idempotency-Key": "before-restart"})

    stack.restart_api()

    assert stack.client.get(f"/v1/jobs/{finished['id']}").json() == finished
    again = stack.client.post("/v1/jobs", json=make_spec(), headers={"Idempotency-Key": "before-restart"})
    assert again.status_code == 200 and again.json()["id"] == waiting["id"]
    for job_id in (running["id"], waiting["id"]):
        done = stack.wait(job_id, timeout=60)
        assert done["status"] == "succeeded", done["error"]
        types = [e["type"] for e in stack.client.get(f"/v1/jobs/{job_id}/events").json()["events"]]
        assert types.count("started") == 1 and types[-1] == "succeeded"
    listed = {j["id"] for j in stack.client.get("/v1/jobs").json()["jobs"]}
    assert listed == {finished["id"], running["id"], waiting["id"]}


def test_200_concurrent_jobs_on_2_workers_each_succeed_exactly_once(make_stack: Any) -> None:
    stack: Stack = make_stack(max_queued_jobs_per_key=LOAD_JOBS)
    workers = [stack.start_worker(), stack.start_worker()]
    spec = tiny_inline_spec()
    started = time.monotonic()

    def submit(index: int) -> str:
        with httpx.Client(base_url=stack.base_url, timeout=60) as client:
            response = client.post("/v1/jobs", json={**spec, "name": f"load-{index}"})
            assert response.status_code == 202, response.text
            return str(response.json()["id"])

    with ThreadPoolExecutor(LOAD_CLIENTS) as pool:
        ids = list(pool.map(submit, range(LOAD_JOBS)))
    submitted = time.monotonic() - started
    assert len(set(ids)) == LOAD_JOBS
    deadline = started + LOAD_SECONDS
    pending = set(ids)
    while pending:
        assert time.monotonic() < deadline, f"{len(pending)} jobs did not end in {LOAD_SECONDS} s"
        pending = {i for i in pending if (r := stack.store.get_job(i)) is None or r["status"] not in TERMINAL}
        time.sleep(0.5)
    elapsed = time.monotonic() - started
    log.info("%d jobs on 2 workers: submitted in %.1f s, all ended after %.1f s", LOAD_JOBS, submitted, elapsed)
    served_by = set()
    for job_id in ids:
        record = stack.store.get_job(job_id)
        assert record is not None and record["status"] == "succeeded", (job_id, record and record["error"])
        assert record["attempt"] == 1
        types = [e["type"] for e in stack.store.events(job_id)]
        assert types.count("started") == 1 and types.count("succeeded") == 1, types
        assert types[-1] == "succeeded"
        served_by.add(record["worker"]["name"])
    assert len(served_by) == 2
    assert stack.queue.depth() == 0 and stack.store.queued_count("public") == 0
    assert all(w.poll() is None for w in workers)


def test_a_job_out_of_memory_fails_with_a_message_and_the_worker_serves_on(make_stack: Any) -> None:
    stack: Stack = make_stack(max_model_parameters=10**9)
    worker = stack.start_worker(LOSSDOCTOR_JOB_MEMORY_LIMIT_MB="512")
    # about 67 million parameters: 270 MB of weights, as much again for gradients, twice that for Adam
    huge = tiny_inline_spec(
        model={
            "layers": [
                {"type": "linear", "out_features": 8192},
                {"type": "relu"},
                {"type": "linear", "out_features": 8192},
                {"type": "relu"},
                {"type": "linear", "out_features": 2},
            ]
        },
        training={"loss": "cross_entropy", "optimizer": "adam", "lr": 0.001, "epochs": 1, "batch_size": 8},
    )
    failed = stack.wait(stack.submit(huge)["id"], timeout=60)
    assert failed["status"] == "failed"
    assert failed["error"]["type"] == "out_of_memory", failed["error"]
    assert "LOSSDOCTOR_JOB_MEMORY_LIMIT_MB" in failed["error"]["message"]
    assert "smaller model" in failed["error"]["message"]
    assert worker.poll() is None
    follow_up = stack.wait(stack.submit(tiny_inline_spec())["id"], timeout=60)
    assert follow_up["status"] == "succeeded", follow_up["error"]
    assert stack.store.get_job(follow_up["id"])["worker"]["pid"] == worker.pid  # type: ignore[index]


def _assert_strict_everywhere(stack: Stack, job_id: str) -> dict[str, Any]:
    """The job, its events and its listing parse as strict JSON; the report page renders."""
    job: dict[str, Any] = strict_json(stack.client.get(f"/v1/jobs/{job_id}").text)
    strict_json(stack.client.get(f"/v1/jobs/{job_id}/events").text)
    strict_json(stack.client.get("/v1/jobs").text)
    assert stack.client.get(f"/v1/jobs/{job_id}/report").status_code == 200
    return job


def test_non_finite_numbers_everywhere_are_served_as_null(make_stack: Any, spec: dict[str, Any]) -> None:
    stack: Stack = make_stack()
    stack.start_worker(LOSSDOCTOR_ENGINE="nan_engine.run_job")
    job = stack.wait(stack.submit(spec)["id"])
    assert job["status"] == "succeeded", job["error"]
    strict = _assert_strict_everywhere(stack, job["id"])
    history = strict["result"]["baseline"]["history"]
    assert history["train_loss"] == [None, None] and history["val_loss"] == [None, None]
    assert strict["result"]["probes"][0]["summary"]["final_loss"] is None
    raw = stack.redis.get(f"lossdoctor:job:{job['id']}")
    strict_json(raw.decode())  # type: ignore[union-attr]  # stored strict, too


def test_a_run_that_diverges_on_non_finite_data_gives_valid_json(make_stack: Any) -> None:
    stack: Stack = make_stack()
    stack.start_worker()
    rows = [[None, None] if i % 3 == 0 else [i * 1e30, -i * 1e30] for i in range(24)]
    spec = tiny_inline_spec(
        data={"source": "inline", "x": rows, "y": [i % 2 for i in range(24)]},
        training={"loss": "cross_entropy", "optimizer": "sgd", "lr": 1e4, "epochs": 2, "batch_size": 8},
        probes=["shuffled_labels", "lr_sweep"],
    )
    job = stack.wait(stack.submit(spec)["id"], timeout=60)
    assert job["status"] == "succeeded", job["error"]
    strict = _assert_strict_everywhere(stack, job["id"])
    assert None in strict["result"]["baseline"]["history"]["train_loss"]
