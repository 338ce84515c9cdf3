"""``GET /v1/jobs/{id}/events``: pages by ``after``/``limit``, a 400 for a bad cursor, and the SSE stream
of an ended job, over the in-memory store."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from service_fakes import MemoryJobStore

PROBLEM = "application/problem+json"


def _job_with_events(client: TestClient, store: MemoryJobStore, spec: dict[str, Any], *, ended: bool) -> str:
    """A job with 6 events (queued, started, 3 probes, and succeeded when ``ended``)."""
    job_id: str = client.post("/v1/jobs", json=spec).json()["id"]
    store.mark_running(job_id, 1, {"name": "w1"})
    for done in range(1, 4):
        store.record_progress(job_id, 1, {"type": "probe_finished", "done": done, "total": 3})
    if ended:
        store.finish(job_id, 1, "succeeded", result={"diagnosis": {}})
    return job_id


def sse_messages(text: str) -> list[dict[str, str]]:
    """The messages of an SSE body as dicts of their fields (comments and ``retry`` left out)."""
    messages = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.split("\n"):
            if not line or line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            fields[name] = fields.get(name, "") + value.removeprefix(" ")
        if "data" in fields:
            messages.append(fields)
    return messages


def test_after_and_limit_page_the_events(client: TestClient, store: MemoryJobStore, spec: dict[str, Any]) -> None:
    job_id = _job_with_events(client, store, spec, ended=True)
    everything = client.get(f"/v1/jobs/{job_id}/events").json()
    assert [e["seq"] for e in everything["events"]] == [1, 2, 3, 4, 5, 6] and everything["next_after"] is None
    page = client.get(f"/v1/jobs/{job_id}/events", params={"after": 2, "limit": 3}).json()
    assert [e["seq"] for e in page["events"]] == [3, 4, 5]
    assert [e["type"] for e in page["events"]] == ["probe_finished"] * 3
    assert page["next_after"] == 5
    rest = client.get(f"/v1/jobs/{job_id}/events", params={"after": page["next_after"]}).json()
    assert [e["seq"] for e in rest["events"]] == [6] and rest["events"][0]["type"] == "succeeded"
    assert rest["next_after"] is None
    at_end = client.get(f"/v1/jobs/{job_id}/events", params={"after": 6}).json()
    assert at_end["events"] == [] and at_end["next_after"] is None


@pytest.mark.parametrize("cursor", ["abc", "-1", "1.5", "7", "99999999999"])
def test_a_cursor_that_is_not_a_seq_is_a_400(
    client: TestClient, store: MemoryJobStore, spec: dict[str, Any], cursor: str
) -> None:
    job_id = _job_with_events(client, store, spec, ended=True)  # seqs 1..6
    response = client.get(f"/v1/jobs/{job_id}/events", params={"after": cursor})
    assert response.status_code == 400 and response.headers["content-type"] == PROBLEM
    body = response.json()
    assert "after" in body["detail"] and "0 to 6" in body["detail"]
    streamed = client.get(f"/v1/jobs/{job_id}/events", headers={"Accept": "text/event-stream", "Last-Event-ID": cursor})
    assert streamed.status_code == 400 and "Last-Event-ID" in streamed.json()["detail"]


def test_limit_out_of_range_is_a_422(client: TestClient, store: MemoryJobStore, spec: dict[str, Any]) -> None:
    job_id = _job_with_events(client, store, spec, ended=True)
    response = client.get(f"/v1/jobs/{job_id}/events", params={"limit": 0})
    assert response.status_code == 422 and response.json()["errors"][0]["loc"] == ["query", "limit"]


def test_stream_of_an_ended_job_sends_every_event_then_closes(
    client: TestClient, store: MemoryJobStore, spec: dict[str, Any]
) -> None:
    job_id = _job_with_events(client, store, spec, ended=True)
    response = client.get(f"/v1/jobs/{job_id}/events", headers={"Accept": "text/event-stream"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    messages = sse_messages(response.text)
    assert [m["id"] for m in messages] == ["1", "2", "3", "4", "5", "6"]
    events = [json.loads(m["data"]) for m in messages]
    assert [e["seq"] for e in events] == [1, 2, 3, 4, 5, 6] and events[-1]["type"] == "succeeded"
    # a reconnect resumes after the last id it saw; Last-Event-ID wins over after
    resumed = client.get(
        f"/v1/jobs/{job_id}/events",
        params={"after": 1},
        headers={"Accept": "text/event-stream", "Last-Event-ID": "4"},
    )
    assert [m["id"] for m in sse_messages(resumed.text)] == ["5", "6"]
    headers = {"Accept": "text/event-stream", "Last-Event-ID": "6"}
    nothing_left = client.get(f"/v1/jobs/{job_id}/events", headers=headers)
    assert nothing_left.status_code == 200 and sse_messages(nothing_left.text) == []


def test_events_of_another_tenant_or_no_job_are_404(client: TestClient) -> None:
    response = client.get("/v1/jobs/job_missing/events", headers={"Accept": "text/event-stream"})
    assert response.status_code == 404 and response.headers["content-type"] == PROBLEM


def test_openapi_documents_the_stream_and_the_page(client: TestClient) -> None:
    operation = client.get("/openapi.json").json()["paths"]["/v1/jobs/{job_id}/events"]["get"]
    assert "text/event-stream" in operation["responses"]["200"]["content"]
    assert "400" in operation["responses"]
    names = {p["name"] for p in operation["parameters"]}
    assert {"after", "limit", "Last-Event-ID"} <= names
