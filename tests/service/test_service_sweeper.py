"""The sweeper: jobs of lost workers are queued again once, then failed; ended jobs' horses are stopped."""

from __future__ import annotations

import time
from typing import Any

from service_fakes import MemoryJobQueue, MemoryJobStore

from service.core.config import Settings
from service.sweeper import Sweeper


def _running(store: MemoryJobStore, spec: dict[str, Any], worker: str, attempt: int = 1) -> str:
    record = store.create_job("job_a", spec, retention_seconds=60, timeout_seconds=90)
    assert store.mark_running(record["id"], attempt, {"name": worker}).applied
    return record["id"]


def test_live_worker_keeps_its_job(store: MemoryJobStore, queue: MemoryJobQueue, spec: dict[str, Any]) -> None:
    job_id = _running(store, spec, "w1")
    queue.heartbeats["w1"] = 1.0
    Sweeper(store, queue, Settings()).sweep()
    assert store.get_job(job_id)["status"] == "running"  # type: ignore[index]


def test_lost_worker_job_is_requeued_once_then_failed(
    store: MemoryJobStore, queue: MemoryJobQueue, spec: dict[str, Any]
) -> None:
    job_id = _running(store, spec, "w1")
    queue.heartbeats["w1"] = 40.0
    sweeper = Sweeper(store, queue, Settings(lost_job_retries=1))
    sweeper.sweep()
    record = store.get_job(job_id)
    assert record is not None and record["status"] == "queued" and record["attempt"] == 2
    assert queue.enqueued == [(job_id, 2, 90)]
    assert store.mark_running(job_id, 2, {"name": "w2"}).applied
    del queue.heartbeats["w1"]  # w2 is not registered at all: lost too
    sweeper.sweep()
    record = store.get_job(job_id)
    assert record is not None and record["status"] == "failed"
    assert record["error"]["type"] == "worker_lost" and "w2" in record["error"]["message"]
    types = [e["type"] for e in store.events(job_id)]
    assert types == ["queued", "started", "worker_lost", "requeued", "started", "failed"]


def test_no_retries_fails_at_once(store: MemoryJobStore, queue: MemoryJobQueue, spec: dict[str, Any]) -> None:
    job_id = _running(store, spec, "w1")
    Sweeper(store, queue, Settings(lost_job_retries=0)).sweep()
    assert store.get_job(job_id)["status"] == "failed"  # type: ignore[index]
    assert queue.enqueued == []


def test_attempt_rq_ended_without_outcome_is_failed(
    store: MemoryJobStore, queue: MemoryJobQueue, spec: dict[str, Any]
) -> None:
    job_id = _running(store, spec, "w1")
    queue.heartbeats["w1"] = 1.0
    queue.rq_statuses[(job_id, 1)] = "failed"
    store.records[job_id]["started_at"] = "2020-01-01T00:00:00.000Z"
    Sweeper(store, queue, Settings()).sweep()
    record = store.get_job(job_id)
    assert record is not None and record["status"] == "failed" and record["error"]["type"] == "worker_crashed"


def test_cancelled_job_still_on_a_worker_is_stopped(
    store: MemoryJobStore, queue: MemoryJobQueue, spec: dict[str, Any]
) -> None:
    job_id = _running(store, spec, "w1")
    queue.heartbeats["w1"] = 1.0
    store.finish(job_id, None, "cancelled")
    queue.started.append((job_id, 1))
    Sweeper(store, queue, Settings(cancel_kill_after_seconds=5)).sweep()
    assert queue.stopped == []  # within the grace period the task stops by itself
    store.records[job_id]["finished_at"] = "2020-01-01T00:00:00.000Z"
    Sweeper(store, queue, Settings(cancel_kill_after_seconds=5)).sweep()
    assert queue.stopped == [(job_id, 1)]


def test_a_queued_job_missing_from_the_queue_is_enqueued_after_its_grace_then_failed(
    store: MemoryJobStore, queue: MemoryJobQueue, spec: dict[str, Any]
) -> None:
    store.create_job("job_q", spec, retention_seconds=60, timeout_seconds=90)  # stored, never enqueued
    sweeper = Sweeper(store, queue, Settings(queued_grace_seconds=0.2, lost_enqueue_retries=2))
    sweeper.sweep()
    assert queue.enqueued == []  # first seen missing: inside its grace
    time.sleep(0.25)
    sweeper.sweep()
    assert queue.enqueued == [("job_q", 1, 90)]
    queue.lost.add("job_q-1")  # lost again, twice
    for _ in range(2):
        sweeper.sweep()
        time.sleep(0.25)
        sweeper.sweep()
    record = store.get_job("job_q")
    assert record is not None and record["status"] == "failed" and len(queue.enqueued) == 2
    assert record["error"]["type"] == "enqueue_lost"
    message = record["error"]["message"]
    assert "not on the queue" in message and "LOSSDOCTOR_LOST_ENQUEUE_RETRIES" in message
    types = [e["type"] for e in store.events("job_q")]
    assert types == ["queued", "enqueued_again", "enqueued_again", "failed"]


def test_a_queued_job_on_the_queue_or_started_is_left_alone(
    store: MemoryJobStore, queue: MemoryJobQueue, spec: dict[str, Any]
) -> None:
    store.create_job("job_w", spec, retention_seconds=60, timeout_seconds=90)
    store.create_job("job_s", spec, retention_seconds=60, timeout_seconds=90)
    queue.enqueue("job_w", 1, 90)
    queue.started.append(("job_s", 1))  # a worker took it; its record is not running yet
    sweeper = Sweeper(store, queue, Settings(queued_grace_seconds=0.0))
    sweeper.sweep()
    sweeper.sweep()
    assert queue.enqueued == [("job_w", 1, 90)]
    assert [store.get_job(i)["status"] for i in ("job_w", "job_s")] == ["queued", "queued"]  # type: ignore[index]


def test_an_attempt_queued_again_by_the_sweeper_stops_itself(
    store: MemoryJobStore, queue: MemoryJobQueue, spec: dict[str, Any]
) -> None:
    from worker.jobs.task import StopPoller

    job_id = _running(store, spec, "w1")
    poll = StopPoller(store, job_id, 0.0, attempt=1)
    assert not poll()
    queue.heartbeats["w1"] = 40.0  # its worker was out of reach (Redis down) past the dead-after time
    Sweeper(store, queue, Settings(lost_job_retries=1)).sweep()
    assert store.mark_running(job_id, 2, {"name": "w2"}).applied  # another worker runs attempt 2
    assert poll()  # attempt 1 stops instead of training on beside it
