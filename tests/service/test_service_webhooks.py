"""Webhook URLs checked at submission (scheme, loopback and private hosts, a signing secret), and the
Standard Webhooks signature checked against an independent HMAC and the reference library."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from service_fakes import MemoryJobQueue, MemoryJobStore
from standardwebhooks import Webhook

from service.core.config import Settings
from service.core.security import new_webhook_secret
from service.main import create_app
from service.webhooks import retry_wait, signed_headers

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
