"""Redis failing under a request, behind the store seam: a 503 with Retry-After, and an Idempotency-Key that
a failed submission leaves free for its retry."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from redis.exceptions import ConnectionError, TimeoutError
from service_fakes import MemoryJobStore


@pytest.mark.parametrize("error", [ConnectionError("Connection refused"), TimeoutError("Timeout reading")])
def test_redis_failing_under_a_read_is_a_503_problem(
    client: TestClient, store: MemoryJobStore, monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    def down(*args: Any, **kwargs: Any) -> Any:
        raise error

    monkeypatch.setattr(store, "list_jobs", down)
    response = client.get("/v1/jobs")
    assert response.status_code == 503 and response.headers["content-type"] == "application/problem+json"
    assert response.headers["Retry-After"] == "5" and response.json()["type"].endswith("redis-unavailable")
    assert "Connection refused" not in response.text and "Timeout" not in response.text  # no internals


def test_a_submission_that_redis_fails_leaves_its_idempotency_key_free(
    client: TestClient, store: MemoryJobStore, monkeypatch: pytest.MonkeyPatch, spec: dict[str, Any]
) -> None:
    real_create = store.create_job

    def down(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("Connection refused")

    monkeypatch.setattr(store, "create_job", down)
    key = {"Idempotency-Key": "k1"}
    assert client.post("/v1/jobs", json=spec, headers=key).status_code == 503
    monkeypatch.setattr(store, "create_job", real_create)
    retry = client.post("/v1/jobs", json=spec, headers=key)
    assert retry.status_code == 202, retry.text  # not a 409 waiting for the job that was never stored
    assert client.post("/v1/jobs", json=spec, headers=key).json()["id"] == retry.json()["id"]
