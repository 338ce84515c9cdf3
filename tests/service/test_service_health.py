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


def test_http_durations_are_counted_by_route_template_also_for_the_guards_refusals(
    store: MemoryJobStore, queue: MemoryJobQueue
) -> None:
    from fastapi.testclient import TestClient
    from prometheus_client.parser import text_string_to_metric_families

    from service.core.config import Settings
    from service.core.security import new_key
    from service.main import create_app

    key, entry = new_key("acme")
    app = create_app(Settings(sweeper=False, api_keys=entry), store=store, queue=queue)  # type: ignore[arg-type]
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/v1/jobs/job_0123456789abcdef01234567").status_code == 401  # refused by the guard
        headers = {"Authorization": f"Bearer {key}"}
        assert client.get("/v1/jobs/job_0123456789abcdef01234567", headers=headers).status_code == 404
        assert client.get("/no/such/path").status_code == 404
        text = client.get("/metrics").text
    counts = {
        (s.labels["method"], s.labels["route"], s.labels["status"]): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "lossdoctor_http_request_duration_seconds_count"
    }
    assert counts[("GET", "/v1/jobs/{job_id}", "401")] == 1
    assert counts[("GET", "/v1/jobs/{job_id}", "404")] == 1
    assert counts[("GET", "<unmatched>", "404")] == 1
