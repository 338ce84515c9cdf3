"""/healthz, /readyz (Redis and a live worker) and /metrics over the in-memory seam."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from service_fakes import MemoryJobQueue, MemoryJobStore


def test_healthz(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


def test_readyz_needs_a_live_worker_and_redis(client: TestClient, store: MemoryJobStore, queue: MemoryJobQueue) -> None:
    response = client.get("/readyz")
    assert response.status_code == 503 and response.headers["content-type"] == "application/problem+json"
    assert "lossdoctor worker" in response.json()["detail"]
    queue.heartbeats["stale"] = 600.0
    assert client.get("/readyz").status_code == 503
    queue.heartbeats["w1"] = 2.0
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["workers"] == 1
    store.up = False
    assert client.get("/readyz").status_code == 503


def test_metrics_text(client: TestClient, store: MemoryJobStore, queue: MemoryJobQueue, spec: dict[str, Any]) -> None:
    client.post("/v1/jobs", json=spec)
    queue.heartbeats["w1"] = 1.0
    response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'lossdoctor_jobs{status="queued"} 1.0' in text
    assert "lossdoctor_job_duration_seconds_bucket" in text and "lossdoctor_queue_depth 1.0" in text
    assert "lossdoctor_workers_alive 1.0" in text


def test_openapi_docs_are_served(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {
        "/v1/jobs",
        "/v1/jobs/{job_id}",
        "/v1/jobs/{job_id}/cancel",
        "/v1/jobs/{job_id}/events",
        "/v1/jobs/{job_id}/report",
        "/v1/datasets",
        "/healthz",
        "/readyz",
        "/metrics",
    } <= set(paths)
