"""Submitting, reading, listing, cancelling jobs and their events, over the in-memory store and queue."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from service_fakes import MemoryJobQueue, MemoryJobStore

PROBLEM = "application/problem+json"


def test_submit_answers_202_with_location_and_enqueues(
    client: TestClient, queue: MemoryJobQueue, spec: dict[str, Any]
) -> None:
    response = client.post("/v1/jobs", json=spec)
    assert response.status_code == 202
    job = response.json()
    assert response.headers["location"] == f"/v1/jobs/{job['id']}"
    assert job["status"] == "queued" and job["name"] == "iris-tiny"
    assert set(job) >= {
        "id",
        "name",
        "status",
        "progress",
        "spec",
        "result",
        "error",
        "created_at",
        "started_at",
        "finished_at",
    }
    assert job["progress"] == {"done": 0, "total": 0} and job["result"] is None and job["error"] is None
    # the hard time limit is the budget plus the configured margin
    assert queue.enqueued == [(job["id"], 1, 30 + 30)]
    assert client.get(job["id"] and f"/v1/jobs/{job['id']}").json()["id"] == job["id"]


def test_unknown_job_is_a_404_problem(client: TestClient) -> None:
    response = client.get("/v1/jobs/job_nope")
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["status"] == 404 and "job_nope" in response.json()["detail"]


def test_list_is_newest_first_with_cursor_and_status_filter(
    client: TestClient, store: MemoryJobStore, spec: dict[str, Any]
) -> None:
    ids = [client.post("/v1/jobs", json={**spec, "name": f"j{i}"}).json()["id"] for i in range(5)]
    store.finish(ids[1], None, "cancelled", expect=("queued",))
    first = client.get("/v1/jobs", params={"limit": 2}).json()
    assert [j["id"] for j in first["jobs"]] == [ids[4], ids[3]]
    assert "result" not in first["jobs"][0]
    second = client.get("/v1/jobs", params={"limit": 2, "after": first["next_after"]}).json()
    assert [j["id"] for j in second["jobs"]] == [ids[2], ids[1]]
    third = client.get("/v1/jobs", params={"limit": 2, "after": second["next_after"]}).json()
    assert [j["id"] for j in third["jobs"]] == [ids[0]] and third["next_after"] is None
    cancelled = client.get("/v1/jobs", params={"status": "cancelled"}).json()
    assert [j["id"] for j in cancelled["jobs"]] == [ids[1]]


def test_list_rejects_a_bad_status_and_limit(client: TestClient) -> None:
    response = client.get("/v1/jobs", params={"status": "done", "limit": 0})
    assert response.status_code == 422 and response.headers["content-type"] == PROBLEM
    locs = [e["loc"] for e in response.json()["errors"]]
    assert ["query", "status"] in locs and ["query", "limit"] in locs


def test_cancel_queued_job_at_once_then_409(client: TestClient, queue: MemoryJobQueue, spec: dict[str, Any]) -> None:
    job = client.post("/v1/jobs", json=spec).json()
    response = client.post(f"/v1/jobs/{job['id']}/cancel")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled" and response.json()["finished_at"]
    assert queue.removed == [(job["id"], 1)]
    again = client.post(f"/v1/jobs/{job['id']}/cancel")
    assert again.status_code == 409 and again.headers["content-type"] == PROBLEM
    assert "cancelled" in again.json()["detail"]


def test_cancel_running_job_raises_its_flag(client: TestClient, store: MemoryJobStore, spec: dict[str, Any]) -> None:
    job = client.post("/v1/jobs", json=spec).json()
    assert store.mark_running(job["id"], 1, {"name": "w1"}).applied
    assert client.post(f"/v1/jobs/{job['id']}/cancel").json()["status"] == "cancelled"
    assert store.cancel_requested(job["id"])
    # the worker's late outcome does not overwrite the cancel
    assert not store.finish(job["id"], 1, "succeeded", result={"x": 1}).applied


def test_events_are_in_order(client: TestClient, store: MemoryJobStore, spec: dict[str, Any]) -> None:
    job = client.post("/v1/jobs", json=spec).json()
    store.mark_running(job["id"], 1, {"name": "w1"})
    store.record_progress(job["id"], 1, {"type": "probe_finished", "probe": "p", "done": 1, "total": 2})
    store.finish(job["id"], 1, "succeeded", result={"diagnosis": {}})
    events = client.get(f"/v1/jobs/{job['id']}/events").json()["events"]
    assert [e["type"] for e in events] == ["queued", "started", "probe_finished", "succeeded"]
    assert [e["seq"] for e in events] == [1, 2, 3, 4]
    assert client.get(f"/v1/jobs/{job['id']}").json()["progress"] == {"done": 1, "total": 2}


def test_idempotency_key_same_body_same_job_other_body_409(
    client: TestClient, queue: MemoryJobQueue, spec: dict[str, Any]
) -> None:
    headers = {"Idempotency-Key": "abc-123"}
    first = client.post("/v1/jobs", json=spec, headers=headers)
    repeat = client.post("/v1/jobs", json=spec, headers=headers)
    assert first.status_code == 202 and repeat.status_code == 200
    assert first.json()["id"] == repeat.json()["id"]
    assert repeat.headers["location"] == first.headers["location"]
    assert len(queue.enqueued) == 1
    other = client.post("/v1/jobs", json={**spec, "name": "other"}, headers=headers)
    assert other.status_code == 409 and other.headers["content-type"] == PROBLEM
    no_key = client.post("/v1/jobs", json=spec)
    assert no_key.status_code == 202 and no_key.json()["id"] != first.json()["id"]
