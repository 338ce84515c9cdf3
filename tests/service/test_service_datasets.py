"""POST /v1/datasets: .csv and .npz uploads, unreadable and oversized ones, and a job that uses one."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from fastapi.testclient import TestClient
from service_fakes import MemoryJobQueue

CSV = b"a,b,label\n" + b"".join(f"{i},{i * 2},{i % 2}\n".encode() for i in range(20))


def test_csv_upload_returns_id_shapes_dtypes(client: TestClient) -> None:
    response = client.post("/v1/datasets", files={"file": ("d.csv", CSV, "text/csv")}, data={"label_column": "label"})
    assert response.status_code == 201
    body = response.json()
    assert body["id"].startswith("ds_") and body["n_samples"] == 20
    assert body["x_shape"] == [20, 2] and body["y_shape"] == [20]
    assert {"x_dtype", "y_dtype"} <= set(body) and "owner" not in body
    assert client.get(f"/v1/datasets/{body['id']}").json()["id"] == body["id"]


def test_npz_upload_then_a_job_on_it(client: TestClient, queue: MemoryJobQueue, spec: dict[str, Any]) -> None:
    buffer = io.BytesIO()
    rng = np.random.default_rng(0)
    np.savez(buffer, x=rng.normal(size=(30, 4)).astype("float32"), y=rng.integers(0, 3, 30))
    upload = client.post("/v1/datasets", files={"file": ("d.npz", buffer.getvalue())}).json()
    spec["data"] = {"source": "dataset", "id": upload["id"]}
    response = client.post("/v1/jobs", json=spec)
    assert response.status_code == 202, response.text
    assert queue.enqueued[0][0] == response.json()["id"]


def test_unreadable_upload_is_a_422_problem(client: TestClient) -> None:
    response = client.post("/v1/datasets", files={"file": ("d.txt", b"hello")})
    assert response.status_code == 422 and response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["loc"] == ["body", "file"]


def test_missing_file_is_a_422(client: TestClient) -> None:
    response = client.post("/v1/datasets", data={"label_column": "y"})
    assert response.status_code == 422


def test_oversized_upload_is_a_413(client: TestClient) -> None:
    response = client.post("/v1/datasets", files={"file": ("d.csv", b"a,label\n" + b"1,0\n" * 40_000)})
    assert response.status_code == 413 and "LOSSDOCTOR_MAX_UPLOAD_BYTES" in response.json()["detail"]
