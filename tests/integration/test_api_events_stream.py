"""A job's events streamed as Server-Sent Events through the real stack (uvicorn, Redis, a worker), read by
a real HTTP client as they arrive; a reconnect with ``Last-Event-ID`` resumes where it left off."""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any

import httpx
import pytest
from lossdoctor_stack import Stack

pytestmark = pytest.mark.slow

STREAM = {"Accept": "text/event-stream"}


def read_stream(
    client: httpx.Client, path: str, headers: dict[str, str], stop_after: int | None = None
) -> tuple[list[dict[str, Any]], bool]:
    """The SSE messages read from ``path`` (``id``, ``data`` parsed) and whether the server closed the stream;
    with ``stop_after``, the client hangs up itself after that many messages."""
    messages: list[dict[str, Any]] = []
    fields: dict[str, str] = {}
    with client.stream("GET", path, headers=headers, timeout=httpx.Timeout(60.0)) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line == "":
                if "data" in fields:
                    messages.append(
                        {"id": fields.get("id"), "data": json.loads(fields["data"]), "received": time.time()}
                    )
                    if stop_after is not None and len(messages) >= stop_after:
                        return messages, False
                fields = {}
            elif not line.startswith(":"):
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")
    return messages, True


def test_stream_follows_a_running_job_to_its_end(stack: Stack, spec: dict[str, Any]) -> None:
    spec["training"]["epochs"] = 400  # about a second or two of training, several stream polls long
    job = stack.submit(spec)
    started = time.monotonic()
    messages, closed = read_stream(stack.client, f"/v1/jobs/{job['id']}/events", STREAM)
    assert closed, "the stream did not close after the job's last event"
    assert time.monotonic() - started < 60
    ids = [int(m["id"]) for m in messages]
    assert ids == list(range(1, len(ids) + 1))
    types = [m["data"]["type"] for m in messages]
    assert types[0] == "queued" and types[1] == "started" and types[-1] == "succeeded"
    assert "probe_finished" in types
    # the stream holds exactly what the JSON route holds once the job has ended
    stored = stack.client.get(f"/v1/jobs/{job['id']}/events").json()["events"]
    assert [m["data"] for m in messages] == stored
    # and it was live: queued and started reached the client before the job had ended
    finished = datetime.fromisoformat(stored[-1]["at"].replace("Z", "+00:00")).timestamp()
    assert messages[0]["received"] < finished and messages[1]["received"] < finished


def test_reconnect_with_last_event_id_resumes(stack: Stack, spec: dict[str, Any]) -> None:
    job = stack.submit(spec)
    path = f"/v1/jobs/{job['id']}/events"
    first, closed = read_stream(stack.client, path, STREAM, stop_after=2)
    assert not closed and [m["id"] for m in first] == ["1", "2"]
    rest, closed = read_stream(stack.client, path, {**STREAM, "Last-Event-ID": first[-1]["id"]})
    assert closed
    ids = [int(m["id"]) for m in first + rest]
    assert ids == list(range(1, len(ids) + 1)) and rest[-1]["data"]["type"] == "succeeded"
    # paging the JSON route by the same cursors gives the same events
    page = stack.client.get(path, params={"after": 2, "limit": 2}).json()
    assert [e["seq"] for e in page["events"]] == [3, 4] and page["next_after"] == 4
    bad = stack.client.get(path, params={"after": "x"})
    assert bad.status_code == 400 and bad.headers["content-type"] == "application/problem+json"
