"""``report_url``: every job carries it; with API keys on, its signed token opens that one report without an
Authorization header, and an expired, altered or other job's token is refused."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from service_fakes import MemoryJobQueue, MemoryJobStore

from service.core.config import Settings
from service.core.security import new_key
from service.main import create_app
from service.report.links import TokenRefused, check_token, report_token

KEY_A, ENTRY_A = new_key("acme")
KEY_B, ENTRY_B = new_key("globex")
AUTH_A = {"Authorization": f"Bearer {KEY_A}"}
AUTH_B = {"Authorization": f"Bearer {KEY_B}"}


@pytest.fixture
def keyed(store: MemoryJobStore, queue: MemoryJobQueue) -> Iterator[TestClient]:
    settings = Settings(sweeper=False, webhooks=False, api_keys=f"{ENTRY_A},{ENTRY_B}", report_secret="s" * 32)
    with TestClient(create_app(settings, store=store, queue=queue), raise_server_exceptions=False) as c:  # type: ignore[arg-type]
        yield c


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def test_without_keys_the_link_is_the_plain_report_url(client: TestClient, spec: dict[str, Any]) -> None:
    job = client.post("/v1/jobs", json=spec).json()
    assert job["report_url"] == f"http://testserver/v1/jobs/{job['id']}/report"
    for shown in (client.get(f"/v1/jobs/{job['id']}").json(), client.get("/v1/jobs").json()["jobs"][0]):
        assert shown["report_url"] == job["report_url"]
    page = client.get(_path(job["report_url"]))
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")


def test_with_keys_the_link_opens_the_report_and_nothing_else(keyed: TestClient, spec: dict[str, Any]) -> None:
    job_a = keyed.post("/v1/jobs", json=spec, headers=AUTH_A).json()
    job_b = keyed.post("/v1/jobs", json=spec, headers=AUTH_A).json()
    link_a = job_a["report_url"]
    token_a = parse_qs(urlsplit(link_a).query)["token"][0]
    # the link opens the page with no Authorization header at all
    page = keyed.get(_path(link_a))
    assert page.status_code == 200 and f'data-job-id="{job_a["id"]}"' in page.text
    # without the token (or the key) it does not
    assert keyed.get(f"/v1/jobs/{job_a['id']}/report").status_code == 401
    assert keyed.get(f"/v1/jobs/{job_a['id']}/report", headers=AUTH_A).status_code == 200
    # job A's token does not open job B's report, nor job A's JSON or events
    other = keyed.get(f"/v1/jobs/{job_b['id']}/report", params={"token": token_a})
    assert other.status_code == 401 and other.headers["content-type"] == "application/problem+json"
    assert 'error="invalid_token"' in other.headers["www-authenticate"]
    assert keyed.get(f"/v1/jobs/{job_a['id']}", params={"token": token_a}).status_code == 401
    assert keyed.get(f"/v1/jobs/{job_a['id']}/events", params={"token": token_a}).status_code == 401
    # an altered token is refused
    altered = token_a[:-1] + ("A" if token_a[-1] != "A" else "B")
    assert keyed.get(f"/v1/jobs/{job_a['id']}/report", params={"token": altered}).status_code == 401
    assert keyed.get(f"/v1/jobs/{job_a['id']}/report", params={"token": "garbage"}).status_code == 401


def test_an_expired_link_is_refused(keyed: TestClient, spec: dict[str, Any]) -> None:
    job = keyed.post("/v1/jobs", json=spec, headers=AUTH_A).json()
    expired = report_token(job["id"], "s" * 32, ttl_seconds=60, now=time.time() - 120)
    response = keyed.get(f"/v1/jobs/{job['id']}/report", params={"token": expired})
    assert response.status_code == 401 and "expired" in response.json()["detail"]


def test_another_tenants_link_still_opens_only_its_job(keyed: TestClient, spec: dict[str, Any]) -> None:
    job_b = keyed.post("/v1/jobs", json=spec, headers=AUTH_B).json()
    # tenant A cannot see B's report with its key, but B's link (given to someone) opens it
    assert keyed.get(f"/v1/jobs/{job_b['id']}/report", headers=AUTH_A).status_code == 404
    assert keyed.get(_path(job_b["report_url"])).status_code == 200


def test_token_checks() -> None:
    token = report_token("job_1", "secret", 60, now=1000.0)
    check_token("job_1", token, "secret", now=1059.0)
    for job_id, secret, now, reason in [
        ("job_2", "secret", 1000.0, "not valid"),
        ("job_1", "other", 1000.0, "not valid"),
        ("job_1", "secret", 1061.0, "expired"),
    ]:
        with pytest.raises(TokenRefused, match=reason):
            check_token(job_id, token, secret, now=now)


def test_openapi_describes_the_job_with_its_links(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    job = schema["components"]["schemas"]["Job"]
    assert {"report_url", "omitted", "status", "progress", "spec", "result"} <= set(job["properties"])
    assert "report_url" in job["required"]
    for path, method in [("/v1/jobs/{job_id}", "get"), ("/v1/jobs", "post"), ("/v1/jobs/{job_id}/cancel", "post")]:
        answer = schema["paths"][path][method]["responses"]
        ok = answer["200"] if "200" in answer and method == "get" or path.endswith("cancel") else answer["202"]
        assert ok["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Job"}
    assert "webhook" in schema["components"]["schemas"]["JobSpec"]["properties"]
