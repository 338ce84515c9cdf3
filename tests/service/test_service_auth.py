"""API keys and tenants: 401 without a valid key, every /v1 route guarded, one tenant never sees another's."""

from __future__ import annotations

import io
import logging
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from service_fakes import MemoryJobQueue, MemoryJobStore

from lossdoctor.cli import keys_allow_binding
from service.core.config import Settings
from service.core.security import authenticate, hash_key, new_key, parse_keys
from service.main import create_app

PROBLEM = "application/problem+json"
KEY_A, ENTRY_A = new_key("acme")
KEY_B, ENTRY_B = new_key("globex")


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def keyed_app(store: MemoryJobStore, queue: MemoryJobQueue) -> Any:
    settings = Settings(sweeper=False, api_keys=f"{ENTRY_A}, {ENTRY_B}", max_upload_bytes=100_000)
    return create_app(settings, store=store, queue=queue)  # type: ignore[arg-type]


@pytest.fixture
def keyed(keyed_app: Any) -> Iterator[TestClient]:
    with TestClient(keyed_app, raise_server_exceptions=False) as c:
        yield c


def _assert_401(response: Any, *, invalid: bool) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == PROBLEM
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer")
    assert ('error="invalid_token"' in challenge) is invalid
    assert response.json()["status"] == 401


def test_keys_new_prints_a_key_and_its_entry() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "lossdoctor", "keys", "new", "acme"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    key, entry = out.stdout.splitlines()
    assert key.startswith("ldk_") and len(key) > 40
    assert entry == f"acme:{hash_key(key)}" and key not in entry
    assert parse_keys(entry)[0].tenant == "acme"
    assert authenticate(f"Bearer {key}", entry, "public") == "acme"
    bad = subprocess.run(
        [sys.executable, "-m", "lossdoctor", "keys", "new", "no spaces"], capture_output=True, text=True, timeout=60
    )
    assert bad.returncode != 0 and "not valid" in bad.stderr


def test_malformed_key_setting_stops_the_process() -> None:
    with pytest.raises(ValidationError, match="TENANT:HASH"):
        Settings(api_keys="acme:not-a-hash")
    with pytest.raises(ValidationError, match="tenant"):
        Settings(api_keys=f"bad tenant:{'0' * 64}")


def test_missing_and_wrong_keys_are_401_problems(keyed: TestClient, spec: dict[str, Any]) -> None:
    _assert_401(keyed.get("/v1/jobs"), invalid=False)
    _assert_401(keyed.post("/v1/jobs", json=spec), invalid=False)
    _assert_401(keyed.get("/v1/jobs", headers=_auth("ldk_wrong")), invalid=True)
    _assert_401(keyed.get("/v1/jobs", headers={"Authorization": f"Basic {KEY_A}"}), invalid=False)
    # the hash itself is not a key
    _assert_401(keyed.get("/v1/jobs", headers=_auth(ENTRY_A.split(":")[1])), invalid=True)
    assert keyed.get("/v1/jobs", headers=_auth(KEY_A)).status_code == 200


def test_every_v1_route_needs_a_key(keyed_app: Any, keyed: TestClient) -> None:
    paths = keyed_app.openapi()["paths"]
    operations = [(method, path) for path, item in paths.items() if path.startswith("/v1") for method in item]
    assert len(operations) >= 9
    for method, path in operations:
        url = path.replace("{job_id}", "job_x").replace("{dataset_id}", "ds_x")
        _assert_401(keyed.request(method.upper(), url), invalid=False)
    for open_path in ("/healthz", "/metrics", "/openapi.json"):
        assert keyed.get(open_path).status_code == 200


def test_routes_authenticate_even_behind_the_guard(keyed_app: Any, spec: dict[str, Any]) -> None:
    # the route dependency alone (no request guard in front) refuses too
    keyed_app.user_middleware = []
    keyed_app.middleware_stack = None
    with TestClient(keyed_app, raise_server_exceptions=False) as c:
        _assert_401(c.get("/v1/jobs"), invalid=False)
        _assert_401(c.post("/v1/jobs", json=spec, headers=_auth("ldk_wrong")), invalid=True)


def test_unauthenticated_body_is_never_read(keyed: TestClient) -> None:
    read = []

    def body() -> Iterator[bytes]:
        read.append(True)
        yield b"{}"

    _assert_401(keyed.post("/v1/jobs", content=body(), headers={"content-type": "application/json"}), invalid=False)
    assert not read


def test_a_tenant_never_sees_another_tenants_jobs(keyed: TestClient, spec: dict[str, Any]) -> None:
    job = keyed.post("/v1/jobs", json=spec, headers=_auth(KEY_A)).json()
    url = f"/v1/jobs/{job['id']}"
    for path in (url, f"{url}/events", f"{url}/report"):
        assert keyed.get(path, headers=_auth(KEY_A)).status_code == 200
        other = keyed.get(path, headers=_auth(KEY_B))
        assert other.status_code == 404 and other.headers["content-type"] == PROBLEM
    assert keyed.post(f"{url}/cancel", headers=_auth(KEY_B)).status_code == 404
    assert keyed.get("/v1/jobs", headers=_auth(KEY_B)).json()["jobs"] == []
    assert keyed.get(f"/v1/jobs?after={job['id']}", headers=_auth(KEY_B)).json()["jobs"] == []
    assert [j["id"] for j in keyed.get("/v1/jobs", headers=_auth(KEY_A)).json()["jobs"]] == [job["id"]]
    assert keyed.get(url, headers=_auth(KEY_A)).json()["status"] == "queued"


def test_idempotency_keys_are_per_tenant(keyed: TestClient, spec: dict[str, Any]) -> None:
    headers_a = {**_auth(KEY_A), "Idempotency-Key": "same"}
    headers_b = {**_auth(KEY_B), "Idempotency-Key": "same"}
    first = keyed.post("/v1/jobs", json=spec, headers=headers_a)
    other = keyed.post("/v1/jobs", json=spec, headers=headers_b)
    assert first.status_code == other.status_code == 202
    assert first.json()["id"] != other.json()["id"]


def test_a_tenant_never_sees_another_tenants_data_sets(keyed: TestClient, spec: dict[str, Any]) -> None:
    buffer = io.BytesIO()
    rng = np.random.default_rng(0)
    np.savez(buffer, x=rng.normal(size=(30, 4)).astype("float32"), y=rng.integers(0, 3, 30))
    upload = keyed.post("/v1/datasets", files={"file": ("d.npz", buffer.getvalue())}, headers=_auth(KEY_A))
    assert upload.status_code == 201
    dataset_id = upload.json()["id"]
    assert keyed.get(f"/v1/datasets/{dataset_id}", headers=_auth(KEY_A)).status_code == 200
    assert keyed.get(f"/v1/datasets/{dataset_id}", headers=_auth(KEY_B)).status_code == 404
    spec["data"] = {"source": "dataset", "id": dataset_id}
    refused = keyed.post("/v1/jobs", json=spec, headers=_auth(KEY_B))
    assert refused.status_code == 422 and refused.json()["errors"][0]["loc"][:2] == ["body", "data"]
    assert keyed.post("/v1/jobs", json=spec, headers=_auth(KEY_A)).status_code == 202


def test_without_keys_everyone_is_the_default_owner(client: TestClient, store: MemoryJobStore, spec: dict) -> None:
    job = client.post("/v1/jobs", json=spec).json()
    assert store.records[job["id"]]["owner"] == "public"
    # a key sent to a service without keys changes nothing
    assert client.get(f"/v1/jobs/{job['id']}", headers=_auth("ldk_anything")).status_code == 200


def test_binding_beyond_loopback_needs_keys(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.delenv("LOSSDOCTOR_API_KEYS", raising=False)
    with caplog.at_level(logging.WARNING):
        assert keys_allow_binding("127.0.0.1", 8000) is True
    assert "WITHOUT API keys" in caplog.text
    assert keys_allow_binding("0.0.0.0", 8000) is False
    assert keys_allow_binding("192.168.1.10", 8000) is False
    monkeypatch.setenv("LOSSDOCTOR_API_KEYS", ENTRY_A)
    assert keys_allow_binding("0.0.0.0", 8000) is True


def test_up_refuses_a_public_address_without_keys(tmp_path: Any) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-m", "lossdoctor", "up", "--host", "0.0.0.0", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert out.returncode == 2
    assert "refusing to listen on 0.0.0.0 without API keys" in out.stderr
    assert not (tmp_path / "redis").exists()  # nothing was started
