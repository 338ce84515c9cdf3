"""rq's own registries agree with the job store, so ``rq info`` and rq-dashboard tell the truth.

A real Redis-protocol server, the API on uvicorn and a ``lossdoctor worker`` subprocess whose engine
(``engines/registry_engine.py``) ends each job the way its spec's name says.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from rq import Queue
from rq.job import Job, JobStatus
from rq.registry import CanceledJobRegistry, FailedJobRegistry, FinishedJobRegistry
from rq.serializers import JSONSerializer

from service.queue import rq_job_id

pytestmark = pytest.mark.slow


def _registries(stack: Any) -> dict[str, set[str]]:
    queue = Queue(stack.settings.queue, connection=stack.redis, serializer=JSONSerializer)
    return {
        "failed": set(FailedJobRegistry(queue=queue).get_job_ids()),
        "canceled": set(CanceledJobRegistry(queue=queue).get_job_ids()),
        "finished": set(FinishedJobRegistry(queue=queue).get_job_ids()),
        "started": set(queue.started_job_registry.get_job_ids()),
    }


def _wait_in(stack: Any, registry: str, rq_id: str, timeout: float = 30.0) -> dict[str, set[str]]:
    deadline = time.monotonic() + timeout
    while rq_id not in (found := _registries(stack))[registry]:
        assert time.monotonic() < deadline, f"{rq_id} never reached rq's {registry} registry: {found}"
        time.sleep(0.1)
    return found


def _status(stack: Any, rq_id: str) -> JobStatus | None:
    return Job.fetch(rq_id, connection=stack.redis, serializer=JSONSerializer).get_status()


def test_failed_cancelled_and_succeeded_jobs_sit_in_rqs_matching_registries(make_stack: Any, make_spec: Any) -> None:
    stack = make_stack(cancel_kill_after_seconds=1.0)
    stack.start_worker(LOSSDOCTOR_ENGINE="registry_engine.run_job")

    # failed without the task raising (a spec error): rq's failed registry, with the job's error as exception
    failed = stack.submit(make_spec(name="fails"))
    assert stack.wait(failed["id"])["status"] == "failed"
    rq_failed = rq_job_id(failed["id"], 1)
    found = _wait_in(stack, "failed", rq_failed)
    assert rq_failed not in found["finished"] | found["started"]
    assert _status(stack, rq_failed) == JobStatus.FAILED
    job = Job.fetch(rq_failed, connection=stack.redis, serializer=JSONSerializer)
    assert "spec_error: the test engine refuses this spec" in (job.latest_result().exc_string or "")

    # cancelled while running, the engine stopping itself: rq's canceled registry
    waiting = stack.submit(make_spec(name="waits"))
    stack.wait(waiting["id"], {"running"})
    assert stack.client.post(f"/v1/jobs/{waiting['id']}/cancel").status_code == 200
    rq_waiting = rq_job_id(waiting["id"], 1)
    found = _wait_in(stack, "canceled", rq_waiting)
    assert rq_waiting not in found["failed"] | found["finished"] | found["started"]
    assert _status(stack, rq_waiting) == JobStatus.CANCELED

    # cancelled while running an engine that ignores it, its horse killed after the grace: canceled, not failed
    stuck = stack.submit(make_spec(name="stuck"))
    stack.wait(stuck["id"], {"running"})
    assert stack.client.post(f"/v1/jobs/{stuck['id']}/cancel").status_code == 200
    rq_stuck = rq_job_id(stuck["id"], 1)
    found = _wait_in(stack, "canceled", rq_stuck, timeout=40)
    assert rq_stuck not in found["failed"] | found["finished"] | found["started"]

    # succeeded: rq's finished registry, as before
    ok = stack.submit(make_spec())
    assert stack.wait(ok["id"])["status"] == "succeeded"
    found = _wait_in(stack, "finished", rq_job_id(ok["id"], 1))
    assert rq_job_id(ok["id"], 1) not in found["failed"] | found["canceled"]


def test_a_job_cancelled_while_queued_is_in_rqs_canceled_registry(make_stack: Any, spec: dict[str, Any]) -> None:
    stack = make_stack()  # no worker: the job stays queued
    job = stack.submit(spec)
    assert stack.client.post(f"/v1/jobs/{job['id']}/cancel").status_code == 200
    rq_id = rq_job_id(job["id"], 1)
    found = _registries(stack)
    assert rq_id in found["canceled"] and rq_id not in found["failed"]
    assert _status(stack, rq_id) == JobStatus.CANCELED
    assert stack.queue.depth() == 0
