"""Tenants over the real store, the per-key queue limit under concurrent requests, and JSON on the queue."""

from __future__ import annotations

import json
import zlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from lossdoctor_stack import Stack
from rq.serializers import JSONSerializer

from service.core.security import new_key
from worker.jobs.rq_worker import build_worker
from worker.jobs.settings import WorkerSettings

pytestmark = pytest.mark.slow

KEY_A, ENTRY_A = new_key("acme")
KEY_B, ENTRY_B = new_key("globex")


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_tenants_are_isolated_in_redis(make_stack: Any, spec: dict[str, Any]) -> None:
    stack: Stack = make_stack(api_keys=f"{ENTRY_A},{ENTRY_B}")
    assert stack.client.get("/v1/jobs").status_code == 401
    a = stack.client.post("/v1/jobs", json=spec, headers=_auth(KEY_A))
    b = stack.client.post("/v1/jobs", json=spec, headers=_auth(KEY_B))
    assert a.status_code == b.status_code == 202
    job_a, job_b = a.json()["id"], b.json()["id"]
    assert stack.store.get_job(job_a)["owner"] == "acme"  # type: ignore[index]
    assert [j["id"] for j in stack.client.get("/v1/jobs", headers=_auth(KEY_A)).json()["jobs"]] == [job_a]
    assert [j["id"] for j in stack.client.get("/v1/jobs", headers=_auth(KEY_B)).json()["jobs"]] == [job_b]
    for path in (f"/v1/jobs/{job_b}", f"/v1/jobs/{job_b}/events", f"/v1/jobs/{job_b}/report"):
        assert stack.client.get(path, headers=_auth(KEY_A)).status_code == 404
    assert stack.client.post(f"/v1/jobs/{job_b}/cancel", headers=_auth(KEY_A)).status_code == 404
    assert stack.client.get(f"/v1/jobs/{job_b}", headers=_auth(KEY_B)).json()["status"] == "queued"


def test_the_queue_limit_holds_under_concurrent_requests(make_stack: Any, spec: dict[str, Any]) -> None:
    stack: Stack = make_stack(api_keys=f"{ENTRY_A},{ENTRY_B}", max_queued_jobs_per_key=5)  # no worker: all wait

    def submit(key: str) -> int:
        with httpx.Client(base_url=stack.base_url, timeout=30) as client:
            return client.post("/v1/jobs", json=spec, headers=_auth(key)).status_code

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(submit, [KEY_A] * 20))
    assert sorted(codes) == [202] * 5 + [429] * 15
    assert stack.store.queued_count("acme") == 5 and stack.queue.depth() == 5
    # another key has its own allowance
    assert submit(KEY_B) == 202


def test_the_queue_and_the_worker_carry_json_only(make_stack: Any, spec: dict[str, Any]) -> None:
    stack: Stack = make_stack()
    worker = build_worker(WorkerSettings(redis_url=stack.redis_url, queue=stack.settings.queue))
    assert worker.serializer is JSONSerializer
    assert all(q.serializer is JSONSerializer for q in worker.queues)
    job = stack.submit(spec)
    raw = stack.redis.hget(f"rq:job:{job['id']}-1", "data")
    assert raw is not None
    payload = json.loads(zlib.decompress(raw))  # rq compresses the serialized call; it is plain JSON
    assert payload[0] == "worker.jobs.task.run" and payload[2] == [job["id"], 1]
