"""Webhooks delivered for real: the stack (uvicorn, Redis, a worker) POSTs to an HTTP server on 127.0.0.1,
which checks the Standard Webhooks signature with its own HMAC; a failed delivery is retried with backoff
and every attempt is a job event."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from lossdoctor_stack import Stack

pytestmark = pytest.mark.slow

SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()
#: Settings of a stack that may call a receiver on loopback, and retries within a fraction of a second.
WEBHOOK_SETTINGS: dict[str, Any] = {
    "webhook_secret": SECRET,
    "webhook_allow_private": True,
    "webhook_retry_seconds": 0.3,
    "webhook_poll_seconds": 0.1,
}


class Receiver:
    """An HTTP server on 127.0.0.1 that records every POST and answers with ``statuses`` in turn (then 204)."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = list(statuses)
        self.deliveries: list[tuple[dict[str, str], bytes, float]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.deliveries.append(({k.lower(): v for k, v in self.headers.items()}, body, time.time()))
                status = receiver.statuses.pop(0) if receiver.statuses else 204
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/lossdoctor"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait(self, count: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.deliveries) < count:
            assert time.monotonic() < deadline, f"{len(self.deliveries)} deliveries, expected {count}"
            time.sleep(0.05)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Callable[[list[int]], Receiver]]:
    made: list[Receiver] = []

    def make(statuses: list[int]) -> Receiver:
        made.append(Receiver(statuses))
        return made[-1]

    yield make
    for r in made:
        r.close()


def verify(headers: dict[str, str], body: bytes) -> dict[str, Any]:
    """The delivery's JSON after checking its signature the way a receiver would, with its own HMAC."""
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.{body.decode()}".encode()
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    versions = dict(s.split(",", 1) for s in headers["webhook-signature"].split(" "))
    assert hmac.compare_digest(versions["v1"], expected), "signature does not verify"
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 60
    payload: dict[str, Any] = json.loads(body)
    return payload


def attempts(stack: Stack, job_id: str) -> list[dict[str, Any]]:
    events = stack.client.get(f"/v1/jobs/{job_id}/events").json()["events"]
    return [e for e in events if e["type"] == "webhook_attempt"]


def test_a_finished_job_is_delivered_once_signed_after_a_retry(
    make_stack: Callable[..., Stack], receiver: Callable[[list[int]], Receiver], spec: dict[str, Any]
) -> None:
    hook = receiver([500])  # the first attempt fails, the retry succeeds
    stack = make_stack(**WEBHOOK_SETTINGS)
    stack.start_worker()
    job = stack.submit({**spec, "webhook": {"url": hook.url}})
    done = stack.wait(job["id"])
    assert done["status"] == "succeeded"
    hook.wait(2)
    time.sleep(1.0)  # long enough for a third attempt, were one to come
    assert len(hook.deliveries) == 2
    (first_headers, first_body, first_at), (headers, body, at) = hook.deliveries
    assert first_headers["webhook-id"] == headers["webhook-id"]  # one message, retried
    assert at - first_at >= 0.3  # the backoff
    for h, b in [(first_headers, first_body), (headers, body)]:
        delivered = verify(h, b)
        assert delivered["type"] == "job.succeeded" and delivered["timestamp"] == done["finished_at"]
        assert delivered["data"]["id"] == job["id"] and delivered["data"]["status"] == "succeeded"
        assert delivered["data"]["result"] == done["result"]
        assert delivered["data"]["report_url"] == f"/v1/jobs/{job['id']}/report"  # no LOSSDOCTOR_PUBLIC_URL
    recorded = attempts(stack, job["id"])
    assert [(a["attempt"], a["status_code"], a["delivered"]) for a in recorded] == [(1, 500, False), (2, 204, True)]
    assert recorded[0]["next_attempt_in_seconds"] == pytest.approx(0.3)


def test_a_cancelled_job_is_delivered_and_an_unreachable_one_gives_up(
    make_stack: Callable[..., Stack], receiver: Callable[[list[int]], Receiver], spec: dict[str, Any]
) -> None:
    hook = receiver([])
    stack = make_stack(**WEBHOOK_SETTINGS, webhook_max_attempts=2)  # no worker: the jobs stay queued
    job = stack.submit({**spec, "webhook": {"url": hook.url}})
    assert stack.client.post(f"/v1/jobs/{job['id']}/cancel").status_code == 200
    hook.wait(1)
    delivered = verify(*hook.deliveries[0][:2])
    assert delivered["type"] == "job.cancelled" and delivered["data"]["status"] == "cancelled"
    # a receiver that is not there: two attempts, both recorded, then the service gives up
    gone = stack.submit({**spec, "webhook": {"url": "http://127.0.0.1:9/nobody-listens"}})
    stack.client.post(f"/v1/jobs/{gone['id']}/cancel")
    deadline = time.monotonic() + 20
    while len(attempts(stack, gone["id"])) < 2:
        assert time.monotonic() < deadline, attempts(stack, gone["id"])
        time.sleep(0.1)
    time.sleep(1.0)
    recorded = attempts(stack, gone["id"])
    assert len(recorded) == 2 and not any(a["delivered"] for a in recorded)
    assert recorded[-1]["gave_up"] is True and recorded[0]["status_code"] is None and recorded[0]["error"]
    assert len(hook.deliveries) == 1
