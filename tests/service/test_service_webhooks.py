"""Webhook URLs checked at submission (scheme, loopback and private hosts, a signing secret), and the
Standard Webhooks signature checked against an independent HMAC and the reference library."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from service_fakes import MemoryJobQueue, MemoryJobStore
from standardwebhooks import Webhook

from service.core.config import Settings
from service.core.security import new_webhook_secret
from service.jobs import JobView
from service.main import create_app
from service.webhooks import WebhookDispatcher, retry_wait, signed_headers

SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()
PROBLEM = "application/problem+json"


def _client(store: MemoryJobStore, queue: MemoryJobQueue, **changes: Any) -> Iterator[TestClient]:
    settings = Settings(sweeper=False, webhooks=False, **changes)
    with TestClient(create_app(settings, store=store, queue=queue), raise_server_exceptions=False) as c:  # type: ignore[arg-type]
        yield c


@pytest.fixture
def signing(store: MemoryJobStore, queue: MemoryJobQueue) -> Iterator[TestClient]:
    yield from _client(store, queue, webhook_secret=SECRET)


@pytest.mark.parametrize("url", ["ftp://example.org/hook", "file:///etc/passwd", "example.org/hook", "http://"])
def test_a_url_that_is_not_http_is_a_422(signing: TestClient, spec: dict[str, Any], url: str) -> None:
    response = signing.post("/v1/jobs", json={**spec, "webhook": {"url": url}})
    assert response.status_code == 422 and response.headers["content-type"] == PROBLEM
    assert response.json()["errors"][0]["loc"] == ["body", "webhook", "url"]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9000/hook",
        "http://localhost/hook",
        "https://10.1.2.3/hook",
        "https://192.168.0.7/hook",
        "http://[::1]:8080/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::ffff:127.0.0.1]/hook",
        "http://0.0.0.0/hook",
    ],
)
def test_loopback_and_private_hosts_are_refused_by_default(signing: TestClient, spec: dict[str, Any], url: str) -> None:
    response = signing.post("/v1/jobs", json={**spec, "webhook": {"url": url}})
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["type"].endswith("webhook-url-refused") and body["errors"][0]["loc"] == ["body", "webhook", "url"]
    assert "LOSSDOCTOR_WEBHOOK_ALLOW_PRIVATE" in body["detail"]


def test_a_public_address_is_accepted_and_kept_in_the_spec(signing: TestClient, spec: dict[str, Any]) -> None:
    response = signing.post("/v1/jobs", json={**spec, "webhook": {"url": "https://93.184.215.14/hooks/ld"}})
    assert response.status_code == 202, response.text
    assert response.json()["spec"]["webhook"] == {"url": "https://93.184.215.14/hooks/ld"}


def test_a_host_that_does_not_resolve_is_refused(signing: TestClient, spec: dict[str, Any]) -> None:
    response = signing.post("/v1/jobs", json={**spec, "webhook": {"url": "https://no-such-host.invalid/hook"}})
    assert response.status_code == 422 and "does not resolve" in response.json()["detail"]


def test_allow_private_lets_loopback_through(
    store: MemoryJobStore, queue: MemoryJobQueue, spec: dict[str, Any]
) -> None:
    for client in _client(store, queue, webhook_secret=SECRET, webhook_allow_private=True):
        response = client.post("/v1/jobs", json={**spec, "webhook": {"url": "http://127.0.0.1:9000/hook"}})
        assert response.status_code == 202, response.text


def test_without_a_secret_a_webhook_is_refused(client: TestClient, spec: dict[str, Any]) -> None:
    response = client.post("/v1/jobs", json={**spec, "webhook": {"url": "https://93.184.215.14/hook"}})
    assert response.status_code == 422 and "LOSSDOCTOR_WEBHOOK_SECRET" in response.json()["detail"]


def test_unknown_webhook_field_is_a_422(signing: TestClient, spec: dict[str, Any]) -> None:
    response = signing.post("/v1/jobs", json={**spec, "webhook": {"url": "https://93.184.215.14/h", "secret": "x"}})
    assert response.status_code == 422 and response.json()["errors"][0]["loc"] == ["body", "webhook", "secret"]


@pytest.mark.parametrize("secret", ["abc", "whsec_not base64!", "whsec_" + base64.b64encode(b"short").decode()])
def test_a_malformed_secret_stops_the_settings(secret: str) -> None:
    with pytest.raises(ValueError, match="LOSSDOCTOR_WEBHOOK_SECRET"):
        Settings(webhook_secret=secret)


def test_signature_matches_an_independent_hmac_and_the_reference_verifier() -> None:
    secret = new_webhook_secret()
    body = '{"type": "job.succeeded", "timestamp": "2026-12-01T22:00:00.000Z", "data": {"id": "job_1"}}'
    at = 1_764_626_400.7
    headers = signed_headers(secret, "msg_job_1", body, at)
    assert headers["webhook-id"] == "msg_job_1" and headers["webhook-timestamp"] == "1764626400"
    key = base64.b64decode(secret.removeprefix("whsec_"))
    expected = base64.b64encode(hmac.new(key, f"msg_job_1.1764626400.{body}".encode(), hashlib.sha256).digest())
    assert headers["webhook-signature"] == "v1," + expected.decode()
    # the reference verifier accepts it when the timestamp is fresh, and refuses a changed body
    fresh = signed_headers(secret, "msg_job_1", body, __import__("time").time())
    assert Webhook(secret).verify(body, fresh)["data"]["id"] == "job_1"
    with pytest.raises(Exception, match="signature"):
        Webhook(secret).verify(body.replace("job_1", "job_2"), fresh)


def test_retry_waits_double_from_the_first() -> None:
    assert [retry_wait(n, 5.0) for n in range(1, 6)] == [5.0, 10.0, 20.0, 40.0, 80.0]
    assert retry_wait(40, 5.0) == 3600.0


def _recorder(calls: list[httpx.Request], status: int, text: str = "") -> httpx.MockTransport:
    """A transport that keeps every request and answers ``status``."""

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(status, text=text)

    return httpx.MockTransport(answer)


def _ended_job(store: MemoryJobStore, spec: dict[str, Any], url: str) -> str:
    record = store.create_job("job_hook", {**spec, "webhook": {"url": url}}, retention_seconds=60, timeout_seconds=60)
    store.finish(record["id"], None, "cancelled", expect=("queued",))
    return str(record["id"])


def test_the_dispatcher_retries_then_gives_up_recording_each_attempt(
    store: MemoryJobStore, spec: dict[str, Any]
) -> None:
    calls: list[httpx.Request] = []
    transport = _recorder(calls, 503, "busy")
    settings = Settings(webhook_secret=SECRET, webhook_max_attempts=2, webhook_retry_seconds=0.01)
    dispatcher = WebhookDispatcher(store, settings, present=JobView(settings), client=httpx.Client(transport=transport))
    job_id = _ended_job(store, spec, "https://93.184.215.14/hook")
    assert dispatcher.dispatch_due() == 1
    time.sleep(0.02)
    assert dispatcher.dispatch_due() == 1
    assert dispatcher.dispatch_due() == 0  # given up: nothing is due any more
    attempts = [e for e in store.events(job_id) if e["type"] == "webhook_attempt"]
    assert [(a["attempt"], a["status_code"], a["delivered"]) for a in attempts] == [(1, 503, False), (2, 503, False)]
    assert attempts[0]["next_attempt_in_seconds"] == 0.01 and attempts[1]["gave_up"] is True
    assert "busy" in attempts[0]["error"]
    body = json.loads(calls[0].content)
    assert body["type"] == "job.cancelled" and body["data"]["report_url"] == f"/v1/jobs/{job_id}/report"
    assert Webhook(SECRET).verify(calls[0].content, dict(calls[0].headers))["data"]["id"] == job_id


def test_the_dispatcher_checks_the_address_again_before_sending(store: MemoryJobStore, spec: dict[str, Any]) -> None:
    calls: list[httpx.Request] = []
    transport = _recorder(calls, 204)
    settings = Settings(webhook_secret=SECRET, webhook_max_attempts=1)  # private addresses not allowed
    dispatcher = WebhookDispatcher(store, settings, present=JobView(settings), client=httpx.Client(transport=transport))
    job_id = _ended_job(store, spec, "http://127.0.0.1:9000/hook")  # as if its DNS had changed since
    dispatcher.dispatch_due()
    (attempt,) = [e for e in store.events(job_id) if e["type"] == "webhook_attempt"]
    assert calls == [] and attempt["delivered"] is False and "loopback or private" in attempt["error"]
