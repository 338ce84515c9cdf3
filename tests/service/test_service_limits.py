"""Each limit is a setting, and each refusal names it: body size, data set size, model size,
samples x epochs, budget, queued jobs per key."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from service_fakes import MemoryJobQueue, MemoryJobStore

from service.core.config import Settings
from service.main import create_app
from worker.contract.spec import ModelSpec
from worker.data.params import count_parameters
from worker.engine.model.build import build_model

PROBLEM = "application/problem+json"
#: Limits small enough to pass with tiny requests.
LIMITS: dict[str, Any] = {
    "max_body_bytes": 20_000,
    "max_upload_bytes": 50_000,
    "max_dataset_rows": 200,
    "max_dataset_features": 20,
    "max_dataset_values": 1_000,
    "max_model_parameters": 5_000,
    "max_sample_epochs": 3_000,
    "max_budget_seconds": 120,
    "max_queued_jobs_per_key": 3,
}


@pytest.fixture
def limited(store: MemoryJobStore, queue: MemoryJobQueue) -> Iterator[TestClient]:
    app = create_app(Settings(sweeper=False, **LIMITS), store=store, queue=queue)  # type: ignore[arg-type]
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def _refused(response: Any, status: int, setting: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert f"LOSSDOCTOR_{setting}" in body["detail"], body
    return body


def _inline(rows: int, features: int) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, features)).round(3).tolist()
    return {"source": "inline", "x": x, "y": [i % 3 for i in range(rows)]}


def test_within_every_limit_is_accepted(limited: TestClient, spec: dict[str, Any]) -> None:
    spec["data"] = _inline(40, 4)  # 40 x 4 values, 4*16+16+16*3+3 = 131 parameters, 40 x 2 sample-epochs
    assert limited.post("/v1/jobs", json=spec).status_code == 202


def test_body_over_the_limit_is_a_413_before_parsing(limited: TestClient) -> None:
    # not JSON at all: a parser would answer 400; the size is refused first
    huge = b"{" * 30_000
    response = limited.post("/v1/jobs", content=huge, headers={"content-type": "application/json"})
    _refused(response, 413, "MAX_BODY_BYTES")


def test_body_without_a_length_is_cut_at_the_limit(limited: TestClient) -> None:
    sent = []

    def chunks() -> Iterator[bytes]:
        for _ in range(100):
            sent.append(1)
            yield b" " * 1000

    response = limited.post("/v1/jobs", content=chunks(), headers={"content-type": "application/json"})
    _refused(response, 413, "MAX_BODY_BYTES")


def test_upload_over_the_limit_is_a_413(limited: TestClient) -> None:
    response = limited.post("/v1/datasets", files={"file": ("d.csv", b"a,label\n" + b"1,0\n" * 20_000)})
    _refused(response, 413, "MAX_UPLOAD_BYTES")


def _npz(x: np.ndarray, y: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, x=x, y=y)
    return buffer.getvalue()


def test_upload_rows_features_and_values_are_refused_from_headers(
    limited: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    import service.api.routes.datasets as datasets

    def never(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("an upload over a limit must be refused before it is parsed")

    monkeypatch.setattr(datasets, "parse_upload", never)
    # compressed zeros: a few hundred bytes that would unpack to far more than the limits allow
    cases = [
        (np.zeros((300, 2), np.float32), "MAX_DATASET_ROWS"),
        (np.zeros((10, 50), np.float32), "MAX_DATASET_FEATURES"),
        (np.zeros((100, 20), np.float32), "MAX_DATASET_VALUES"),
    ]
    for x, setting in cases:
        content = _npz(x, np.zeros(len(x), np.int64))
        assert len(content) < LIMITS["max_upload_bytes"]
        _refused(limited.post("/v1/datasets", files={"file": ("d.npz", content)}), 413, setting)
    csv = b"a,b,label\n" + b"1,2,0\n" * 300
    _refused(limited.post("/v1/datasets", files={"file": ("d.csv", csv)}), 413, "MAX_DATASET_ROWS")
    wide = (",".join(f"c{i}" for i in range(30)) + ",label\n").encode() + b"1," * 30 + b"0\n"
    _refused(limited.post("/v1/datasets", files={"file": ("d.csv", wide)}), 413, "MAX_DATASET_FEATURES")


def test_job_data_over_the_limits_is_a_422(limited: TestClient, spec: dict[str, Any]) -> None:
    spec["data"] = _inline(201, 1)
    body = _refused(limited.post("/v1/jobs", json=spec), 422, "MAX_DATASET_ROWS")
    assert body["errors"][0]["loc"] == ["body", "data", "x"]
    spec["data"] = _inline(20, 21)
    _refused(limited.post("/v1/jobs", json=spec), 422, "MAX_DATASET_FEATURES")
    spec["data"] = _inline(60, 20)
    _refused(limited.post("/v1/jobs", json=spec), 422, "MAX_DATASET_VALUES")


def test_synthetic_data_is_refused_before_it_is_generated(
    limited: TestClient, spec: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import service.jobs as jobs

    def never(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a data set over a limit must be refused before it is generated")

    monkeypatch.setattr(jobs, "check_runnable", never)
    spec["data"] = {"source": "synthetic", "name": "classification", "n_samples": 1_000_000, "n_features": 10_000}
    body = _refused(limited.post("/v1/jobs", json=spec), 422, "MAX_DATASET_ROWS")
    assert body["errors"][0]["loc"] == ["body", "data", "n_samples"]


def test_model_over_the_parameter_limit_is_a_422(limited: TestClient, spec: dict[str, Any]) -> None:
    spec["model"]["layers"][0]["out_features"] = 1_000  # iris: 4*1000+1000 + 1000*3+3 parameters
    body = _refused(limited.post("/v1/jobs", json=spec), 422, "MAX_MODEL_PARAMETERS")
    assert "8003" in body["detail"] and body["errors"][0]["loc"] == ["body", "model", "layers"]


def test_samples_times_epochs_over_the_limit_is_a_422(limited: TestClient, spec: dict[str, Any]) -> None:
    spec["training"]["epochs"] = 21  # iris: 150 x 21 = 3150
    body = _refused(limited.post("/v1/jobs", json=spec), 422, "MAX_SAMPLE_EPOCHS")
    assert "3150" in body["detail"] and body["errors"][0]["loc"] == ["body", "training", "epochs"]


def test_budget_over_the_limit_is_a_422(limited: TestClient, spec: dict[str, Any]) -> None:
    spec["budget_seconds"] = 121
    body = _refused(limited.post("/v1/jobs", json=spec), 422, "MAX_BUDGET_SECONDS")
    assert body["errors"][0]["loc"] == ["body", "budget_seconds"]


def test_queued_jobs_per_key_is_a_429_until_one_leaves_the_queue(
    limited: TestClient, store: MemoryJobStore, spec: dict[str, Any]
) -> None:
    ids = [limited.post("/v1/jobs", json=spec).json()["id"] for _ in range(3)]
    refused = limited.post("/v1/jobs", json=spec, headers={"Idempotency-Key": "k1"})
    _refused(refused, 429, "MAX_QUEUED_JOBS_PER_KEY")
    assert int(refused.headers["retry-after"]) > 0
    assert len(store.records) == 3
    # a job that starts leaves the queue, and the key is free again (the refused request kept nothing)
    store.mark_running(ids[0], 1, {"name": "w"})
    assert limited.post("/v1/jobs", json=spec, headers={"Idempotency-Key": "k1"}).status_code == 202
    _refused(limited.post("/v1/jobs", json=spec), 429, "MAX_QUEUED_JOBS_PER_KEY")
    assert limited.post(f"/v1/jobs/{ids[1]}/cancel").status_code == 200
    assert limited.post("/v1/jobs", json=spec).status_code == 202


def test_non_finite_numbers_in_settings_are_a_422_not_a_500(limited: TestClient, spec: dict[str, Any]) -> None:
    spec["training"]["weight_decay"] = float("inf")
    body = json.dumps(spec)  # Python writes Infinity, which Python's parser reads back
    response = limited.post("/v1/jobs", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422 and response.headers["content-type"] == PROBLEM
    assert response.json()["errors"][0]["loc"] == ["body", "training", "weight_decay"]
    # NaN in inline data means a missing value: accepted, and served back as null
    spec["training"]["weight_decay"] = 0.0
    spec["data"] = _inline(20, 2)
    spec["data"]["x"][0][0] = float("nan")
    accepted = limited.post("/v1/jobs", content=json.dumps(spec), headers={"content-type": "application/json"})
    assert accepted.status_code == 202, accepted.text
    job = limited.get(f"/v1/jobs/{accepted.json()['id']}")  # the 202 leaves inline data out
    assert job.json()["spec"]["data"]["x"][0][0] is None


@pytest.mark.parametrize(
    "layers, sample_shape",
    [
        ([{"type": "linear", "out_features": 7}, {"type": "relu"}, {"type": "linear", "out_features": 3}], (5,)),
        ([{"type": "linear", "out_features": 4, "bias": False}, {"type": "batchnorm"}, {"type": "layernorm"}], (9,)),
        (
            [
                {"type": "conv2d", "out_channels": 6, "kernel_size": 3, "padding": 1},
                {"type": "batchnorm"},
                {"type": "maxpool2d"},
                {"type": "conv2d", "out_channels": 4, "kernel_size": 2, "bias": False},
                {"type": "layernorm"},
                {"type": "flatten"},
                {"type": "linear", "out_features": 10},
            ],
            (2, 8, 8),
        ),
    ],
)
def test_parameter_count_matches_torch(layers: list[dict[str, Any]], sample_shape: tuple[int, ...]) -> None:
    model = ModelSpec.model_validate({"layers": layers})
    built = build_model(model, sample_shape, seed=0)
    expected = sum(p.numel() for p in built.parameters() if isinstance(p, torch.nn.Parameter))
    assert count_parameters(model, sample_shape) == expected


def test_csv_values_are_counted_while_parsing(limited: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    import service.api.routes.datasets as datasets

    monkeypatch.setattr(datasets, "check_upload", lambda *args: None)  # a file whose declared size fooled it
    header = ",".join(f"c{i}" for i in range(20)) + ",label\n"
    csv = (header + ("1," * 20 + "0\n") * 60).encode()  # 60 x 20 = 1,200 values; the limit is 1,000
    body = _refused(limited.post("/v1/datasets", files={"file": ("d.csv", csv)}), 422, "MAX_DATASET_VALUES")
    assert "1000" in body["detail"] and "line 52" in body["detail"]  # stopped at the first row past it
    monkeypatch.undo()
    ok = (header + ("1," * 20 + "0\n") * 50).encode()  # 50 x 20 = 1,000 values: at the limit
    assert limited.post("/v1/datasets", files={"file": ("d.csv", ok)}).status_code == 201


def test_a_csv_with_cr_line_endings_is_sized_before_parsing(limited: TestClient) -> None:
    csv = b"a,b,label\r" + b"1,2,0\r" * 300
    _refused(limited.post("/v1/datasets", files={"file": ("d.csv", csv)}), 413, "MAX_DATASET_ROWS")
    long_header = (",".join(f"c{i:05d}" for i in range(30)) + ",label\n").encode()  # wider than it starts
    _refused(
        limited.post("/v1/datasets", files={"file": ("d.csv", long_header + b"1," * 30 + b"0\n")}),
        413,
        "MAX_DATASET_FEATURES",
    )


def test_an_npz_listing_too_many_entries_is_refused_before_its_directory_is_read(limited: TestClient) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, array in (("x", np.zeros((4, 2), np.float32)), ("y", np.zeros(4, np.int64))):
            with archive.open(f"{name}.npy", "w") as f:
                np.lib.format.write_array(f, array)
        for i in range(2_000):
            archive.writestr(f"pad{i}", b"")
    assert len(buffer.getvalue()) < LIMITS["max_upload_bytes"] * 4
    app_limit = Settings(sweeper=False, **{**LIMITS, "max_upload_bytes": 1_000_000})
    client = TestClient(create_app(app_limit, store=MemoryJobStore(), queue=MemoryJobQueue()))  # type: ignore[arg-type]
    response = client.post("/v1/datasets", files={"file": ("d.npz", buffer.getvalue())})
    assert response.status_code == 422, response.text
    assert "2002 entries" in response.json()["detail"] and "at most 64" in response.json()["detail"]


def test_synthetic_data_is_sized_with_scikit_learns_defaults(
    limited: TestClient, spec: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import service.jobs as jobs

    def never(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a data set over a limit must be refused before it is generated")

    monkeypatch.setattr(jobs, "check_runnable", never)
    spec["data"] = {"source": "synthetic", "name": "classification", "n_samples": 60}  # 20 features by default
    body = _refused(limited.post("/v1/jobs", json=spec), 422, "MAX_DATASET_VALUES")
    assert body["errors"][0]["loc"] == ["body", "data", "n_samples"] and "60 x 20" in body["detail"]
    spec["data"] = {"source": "synthetic", "name": "regression", "n_samples": 5}  # 100 features by default
    _refused(limited.post("/v1/jobs", json=spec), 422, "MAX_DATASET_FEATURES")
